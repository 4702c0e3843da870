/* Signal dispositions and the mask across fork and execve, and signals from
 * other processes a guest ignores, blocks or catches (incl. real-time ones).
 * Usage: signal-inherit exec | show | blocked | rt-child | rt-wait
 *   exec     ignore INT, PIPE, RTMIN+3, catch USR1, block USR2 with one pending;
 *            fork (the child prints), then execve this program with "show"
 *            (through $RUNNER when set: qemu-arm-static runs an execve'd ARM
 *            program only through binfmt_misc, so its side re-enters the emulator)
 *   show     print what this program started with
 *   blocked  block USR2 / TERM, ignore HUP, print "ready" and sleep: another
 *            process's signals stay pending (or vanish), then unblocking kills
 *   rt-child a forked child sends SIGRTMIN+2 with kill(); the handler reports it
 *   rt-wait  print "ready", wait for SIGRTMIN+2 from outside, report its siginfo */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static const char *disp(int sig) {
  struct sigaction sa;
  if (sigaction(sig, NULL, &sa) != 0) return "error";
  return sa.sa_handler == SIG_IGN ? "SIG_IGN" : sa.sa_handler == SIG_DFL ? "SIG_DFL" : "handler";
}

static void show(const char *who, int with_mask) {
  printf("%s: INT %s, PIPE %s, RTMIN+3 %s, USR1 %s, QUIT %s\n", who, disp(SIGINT), disp(SIGPIPE), disp(SIGRTMIN + 3), disp(SIGUSR1), disp(SIGQUIT));
  if (with_mask) {
    sigset_t m, p;
    sigprocmask(SIG_SETMASK, NULL, &m);
    sigpending(&p);
    printf("%s: USR2 blocked %d pending %d; TSEMU_SIGNAL_STATE %s\n", who, sigismember(&m, SIGUSR2), sigismember(&p, SIGUSR2),
           getenv("TSEMU_SIGNAL_STATE") ? "visible" : "absent");
  }
  fflush(stdout);
}

static volatile sig_atomic_t got, code, from_ok;
static void on_sig(int sig, siginfo_t *si, void *uc) {
  (void)uc;
  got = sig;
  code = si->si_code;
  from_ok = si->si_pid > 0 && si->si_pid != getpid();
}
static void on_usr1(int sig) { (void)sig; }

static void catch_info(int sig) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_sigaction = on_sig;
  sa.sa_flags = SA_SIGINFO;
  sigemptyset(&sa.sa_mask);
  sigaction(sig, &sa, NULL);
}

static void nap(int ms) {
  struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
  while (nanosleep(&ts, &ts) != 0) {}
}

int main(int argc, char **argv) {
  const char *mode = argc > 1 ? argv[1] : "";
  int with_mask = argc > 2; /* the mask is shown only where qemu-arm can show it too (see the test) */
  if (strcmp(mode, "show") == 0) { show("after execve", with_mask); return 0; }
  if (strcmp(mode, "exec") == 0) {
    show("at start", 0);
    signal(SIGINT, SIG_IGN);
    signal(SIGPIPE, SIG_IGN);
    signal(SIGRTMIN + 3, SIG_IGN);
    signal(SIGUSR1, on_usr1);
    sigset_t m;
    sigemptyset(&m);
    sigaddset(&m, SIGUSR2);
    sigprocmask(SIG_BLOCK, &m, NULL);
    raise(SIGUSR2);
    pid_t pid = fork();
    if (pid == 0) { show("forked child", with_mask); _exit(0); }
    int st;
    waitpid(pid, &st, 0);
    const char *runner = getenv("RUNNER");
    if (runner) execl(runner, runner, argv[0], "show", with_mask ? "mask" : (char *)0, (char *)0);
    else execl(argv[0], argv[0], "show", with_mask ? "mask" : (char *)0, (char *)0);
    perror("execl");
    return 1;
  }
  if (strcmp(mode, "blocked") == 0) {
    sigset_t m, p;
    sigemptyset(&m);
    sigaddset(&m, SIGUSR2);
    sigaddset(&m, SIGTERM);
    sigprocmask(SIG_BLOCK, &m, NULL);
    signal(SIGHUP, SIG_IGN);
    printf("ready\n");
    fflush(stdout);
    nap(argc > 2 ? atoi(argv[2]) : 1500);
    sigpending(&p);
    printf("pending USR2 %d TERM %d HUP %d\n", sigismember(&p, SIGUSR2), sigismember(&p, SIGTERM), sigismember(&p, SIGHUP));
    fflush(stdout);
    sigprocmask(SIG_UNBLOCK, &m, NULL);
    printf("not reached\n");
    return 0;
  }
  if (strcmp(mode, "rt-child") == 0) {
    catch_info(SIGRTMIN + 2);
    sigset_t m, old;
    sigemptyset(&m);
    sigaddset(&m, SIGRTMIN + 2);
    sigprocmask(SIG_BLOCK, &m, &old);
    pid_t pid = fork();
    if (pid == 0) { kill(getppid(), SIGRTMIN + 2); _exit(0); }
    while (!got) sigsuspend(&old);
    printf("caught RTMIN+%d from the child: si_code %d, sender %s\n", got - SIGRTMIN, code, from_ok ? "ok" : "wrong");
    int st;
    waitpid(pid, &st, 0);
    return 0;
  }
  if (strcmp(mode, "rt-wait") == 0) {
    catch_info(SIGRTMIN + 2);
    printf("ready %d\n", SIGRTMIN + 2);
    fflush(stdout);
    while (!got) pause();
    printf("caught RTMIN+%d: si_code %d, sender %s\n", got - SIGRTMIN, code, from_ok ? "ok" : "wrong");
    return 0;
  }
  fprintf(stderr, "usage: %s exec|show|blocked|rt-child|rt-wait\n", argv[0]);
  return 2;
}
