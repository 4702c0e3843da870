/* Three concurrent children joined by pipes (more data than a pipe holds, so
 * they must run at the same time), waitpid of each by pid, WNOHANG, exit
 * statuses, death by SIGPIPE, SIGCHLD to a handler, getppid in a child. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/wait.h>

static volatile sig_atomic_t chld;
static void on_chld(int sig) { (void)sig; chld++; }

static void report(const char *who, int status) {
  if (WIFEXITED(status)) printf("%s exited %d\n", who, WEXITSTATUS(status));
  else if (WIFSIGNALED(status)) printf("%s killed by signal %d\n", who, WTERMSIG(status));
  else printf("%s status 0x%x\n", who, status);
}

int main(void) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_chld;
  sa.sa_flags = SA_RESTART; /* waitpid would otherwise fail with EINTR when SIGCHLD arrives first */
  sigaction(SIGCHLD, &sa, NULL);
  int a[2], b[2];
  if (pipe(a) || pipe(b)) return 1;
  pid_t me = getpid();
  fflush(stdout);
  pid_t producer = fork();
  if (producer == 0) { /* 400000 bytes of numbers into a */
    close(a[0]); close(b[0]); close(b[1]);
    FILE *f = fdopen(a[1], "w");
    for (int i = 0; i < 60000; i++) fprintf(f, "%d\n", i);
    fclose(f);
    _exit(getppid() == me ? 11 : 99);
  }
  pid_t filter = fork();
  if (filter == 0) { /* a -> b: sum and count lines, keep every 1000th */
    close(a[1]); close(b[0]);
    FILE *in = fdopen(a[0], "r"), *out = fdopen(b[1], "w");
    long sum = 0, n = 0, v;
    while (fscanf(in, "%ld", &v) == 1) { sum += v; if (n++ % 1000 == 0) fprintf(out, "%ld\n", v); }
    fprintf(out, "sum %ld lines %ld\n", sum, n);
    fclose(out);
    _exit(22);
  }
  pid_t consumer = fork();
  if (consumer == 0) { /* b -> stdout */
    close(a[0]); close(a[1]); close(b[1]);
    char buf[512];
    ssize_t k;
    long total = 0;
    while ((k = read(b[0], buf, sizeof buf)) > 0) { total += k; if (fwrite(buf, 1, k, stdout) != (size_t)k) _exit(1); }
    printf("consumer read %ld bytes\n", total);
    fflush(stdout);
    _exit(33);
  }
  close(a[0]); close(a[1]); close(b[0]); close(b[1]);
  int st;
  if (waitpid(consumer, &st, 0) != consumer) return 2;
  report("consumer", st);
  if (waitpid(producer, &st, 0) != producer) return 3;
  report("producer", st);
  if (waitpid(filter, &st, 0) != filter) return 4;
  report("filter", st);

  /* A child blocked on a pipe: WNOHANG finds nothing; then it dies writing to a pipe nobody reads. */
  int c[2], d[2];
  if (pipe(c) || pipe(d)) return 5;
  pid_t writer = fork();
  if (writer == 0) {
    close(c[1]); close(d[0]);
    char x;
    if (read(c[0], &x, 1) != 1) _exit(6);
    write(d[1], "x", 1); /* reader closed below: SIGPIPE */
    _exit(7);
  }
  close(c[0]); close(d[0]); close(d[1]);
  printf("WNOHANG while it waits: %d\n", (int)waitpid(writer, &st, WNOHANG));
  write(c[1], "go", 1);
  close(c[1]);
  if (waitpid(writer, &st, 0) != writer) return 8;
  report("writer", st);
  printf("no more children: %d\n", (int)waitpid(-1, &st, WNOHANG));
  printf("SIGCHLD handler ran: %s\n", chld > 0 ? "yes" : "no");
  return 0;
}
