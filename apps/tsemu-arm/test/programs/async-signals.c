/* Signals sent by other processes (and alarm) while the program blocks or computes:
 * EINTR versus SA_RESTART for read and wait4, nanosleep's remaining time, pause,
 * siginfo's sender, delivery to a loop that makes system calls, to one that
 * calls a function and to one that is a single block branching to itself.
 * Usage: async-signals read-eintr|read-restart|child-usr1|nanosleep|wait-eintr|wait-restart|spin|busy|tight */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int pfd[2];
static volatile sig_atomic_t got, from;

static void on_alarm(int sig) {
  got = sig;
  if (write(pfd[1], "x", 1) != 1) _exit(3); /* the restarted read then has a byte */
}

static void on_usr1(int sig, siginfo_t *si, void *uc) {
  (void)uc;
  got = sig;
  from = si->si_pid;
}

static void handle(int sig, void (*fn)(int), int flags) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = fn;
  sa.sa_flags = flags;
  sigemptyset(&sa.sa_mask);
  sigaction(sig, &sa, NULL);
}

static void handle_info(int sig, int flags) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_sigaction = on_usr1;
  sa.sa_flags = SA_SIGINFO | flags;
  sigemptyset(&sa.sa_mask);
  sigaction(sig, &sa, NULL);
}

/* A child that signals us after `ms` and exits with 7 after another `ms`. */
static pid_t signaller(int ms) {
  pid_t pid = fork();
  if (pid == 0) {
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
    nanosleep(&ts, NULL);
    kill(getppid(), SIGUSR1);
    nanosleep(&ts, NULL);
    _exit(7);
  }
  return pid;
}

static void read_case(int restart) {
  char c = 0;
  if (pipe(pfd) < 0) return;
  handle(SIGALRM, on_alarm, restart ? SA_RESTART : 0);
  alarm(1);
  ssize_t n = read(pfd[0], &c, 1);
  printf("read = %zd%s, handler %s\n", n, n < 0 && errno == EINTR ? " (EINTR)" : "", got == SIGALRM ? "ran" : "did not run");
  if (n < 0) { n = read(pfd[0], &c, 1); printf("read again = %zd '%c'\n", n, c); }
  else printf("byte '%c'\n", c);
}

static void wait_case(int restart) {
  int st = 0;
  handle_info(SIGUSR1, restart ? SA_RESTART : 0);
  pid_t pid = signaller(300);
  pid_t r = waitpid(pid, &st, 0);
  printf("waitpid = %s%s, handler %s\n", r == pid ? "child" : "-1", r < 0 && errno == EINTR ? " (EINTR)" : "", got ? "ran" : "did not run");
  if (r < 0) r = waitpid(pid, &st, 0);
  printf("child %s, exit %d, sender was the child: %s\n", r == pid ? "reaped" : "lost", WEXITSTATUS(st), from == pid ? "yes" : "no");
}

/* Out of line, so the busy loop spans several translation blocks. */
__attribute__((noinline)) static void step(unsigned long *n) { __asm__ volatile("" : : "r"(n) : "memory"); ++*n; }

int main(int argc, char **argv) {
  const char *m = argc > 1 ? argv[1] : "";
  setvbuf(stdout, NULL, _IONBF, 0);
  if (!strcmp(m, "read-eintr")) read_case(0);
  else if (!strcmp(m, "read-restart")) read_case(1);
  else if (!strcmp(m, "wait-eintr")) wait_case(0);
  else if (!strcmp(m, "wait-restart")) wait_case(1);
  else if (!strcmp(m, "child-usr1")) {
    handle_info(SIGUSR1, 0);
    pid_t pid = signaller(100);
    while (!got) pause();
    printf("got signal %d from the child: %s\n", got, from == pid ? "yes" : "no");
    int st = 0;
    waitpid(pid, &st, 0);
    printf("child exit %d\n", WEXITSTATUS(st));
  } else if (!strcmp(m, "nanosleep")) {
    handle_info(SIGUSR1, SA_RESTART); /* a sleep is never restarted, SA_RESTART or not */
    pid_t pid = signaller(300);
    struct timespec req = { 30, 0 }, rem = { 0, 0 };
    int r = nanosleep(&req, &rem);
    printf("nanosleep = %d%s, remaining > 20 s: %s, handler %s\n", r, r < 0 && errno == EINTR ? " (EINTR)" : "",
           rem.tv_sec > 20 && rem.tv_sec < 30 ? "yes" : "no", got ? "ran" : "did not run");
    waitpid(pid, NULL, 0);
  } else if (!strcmp(m, "spin")) {
    handle_info(SIGUSR1, 0);
    pid_t pid = signaller(100);
    unsigned long n = 0;
    while (!got) { getppid(); n++; } /* no blocking call: delivered at a system call's entry */
    printf("spun, then got signal %d from the child: %s\n", got, from == pid ? "yes" : "no");
    waitpid(pid, NULL, 0);
  } else if (!strcmp(m, "busy")) {
    handle_info(SIGUSR1, 0);
    pid_t pid = signaller(100);
    unsigned long n = 0;
    while (!got) step(&n); /* no system call at all: the emulator must stop the TB chain */
    printf("busy loop, then got signal %d from the child: %s\n", got, from == pid ? "yes" : "no");
    waitpid(pid, NULL, 0);
  } else if (!strcmp(m, "tight")) {
    handle_info(SIGUSR1, 0);
    pid_t pid = signaller(100);
    while (!got) ; /* one block branching to itself: the compiled loop must look at the interrupt word */
    printf("tight loop, then got signal %d from the child: %s\n", got, from == pid ? "yes" : "no");
    waitpid(pid, NULL, 0);
  } else {
    fprintf(stderr, "usage: %s read-eintr|read-restart|wait-eintr|wait-restart|child-usr1|nanosleep|spin|busy|tight\n", argv[0]);
    return 2;
  }
  return 0;
}
