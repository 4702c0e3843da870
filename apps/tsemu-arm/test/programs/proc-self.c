// /proc/self/stat and /proc/self/auxv, which qemu-arm answers itself. What
// must agree with the process (pid, parent, the initial stack pointer, the
// auxiliary vector getauxval reads) is printed as checks, so the output is
// the same under any emulator; the command name (argv[0] after its last '/',
// 15 bytes at most) is printed as it is. The same from a forked child.
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/wait.h>
#include <unistd.h>

/* Where the stack started: argc, one word below argv[0]'s pointer. */
static long start_stack;

static int slurp(const char *path, char *buf, int size) {
  int fd = open(path, O_RDONLY), n = 0, r;
  if (fd < 0) { perror(path); exit(1); }
  while (n < size && (r = read(fd, buf + n, size - n)) > 0) n += r;
  close(fd);
  return n;
}

static void check_stat(const char *who) {
  char buf[1024];
  int n = slurp("/proc/self/stat", buf, sizeof buf - 1);
  buf[n] = 0;
  char *open_paren = strchr(buf, '('), *close_paren = strrchr(buf, ')');
  if (!open_paren || !close_paren) { printf("%s: no command name in %s\n", who, buf); return; }
  long pid = strtol(buf, 0, 10), f[64] = {0};
  int k = 2;
  for (char *p = close_paren + 1; *p && *p != '\n' && k < 64; k++) f[k] = strtol(p, &p, 10);
  int zeros = 0;
  for (int i = 2; i < k; i++) if (i != 3 && i != 21 && i != 27 && f[i] == 0) zeros++;
  printf("%s: command %.*s, %d fields, %d of the others 0, newline at the end: %s\n", who,
         (int)(close_paren - open_paren + 1), open_paren, k, zeros, buf[n - 1] == '\n' ? "yes" : "no");
  printf("%s: pid %s, parent %s, initial stack %s, start time %s\n", who,
         pid == getpid() ? "ok" : "WRONG", f[3] == getppid() ? "ok" : "WRONG",
         f[27] == start_stack ? "ok" : "WRONG", f[21] > 0 ? "set" : "0");
}

static void check_auxv(const char *who) {
  unsigned long a[256];
  int n = slurp("/proc/self/auxv", (char *)a, sizeof a), pairs = n / 8, same = 1;
  printf("%s: auxv %d bytes, keys", who, n);
  for (int i = 0; i < pairs; i++) {
    printf(" %lu", a[2 * i]);
    if (a[2 * i] != 0 && getauxval(a[2 * i]) != a[2 * i + 1]) same = 0;
  }
  printf("; values %s\n", same ? "as getauxval's" : "NOT as getauxval's");
}

int main(int argc, char **argv) {
  (void)argc;
  start_stack = (long)argv - (long)sizeof(long);
  check_stat("main");
  check_auxv("main");
  fflush(stdout);
  pid_t child = fork();
  if (child == 0) {
    check_stat("child");
    check_auxv("child");
    fflush(stdout);
    _exit(0);
  }
  int status;
  waitpid(child, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
}
