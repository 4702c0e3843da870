/* fork, pipe, waitpid, exit statuses, and execve of a host program (qemu-arm runs host binaries natively). */
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/wait.h>
int main(void) {
  int fds[2];
  if (pipe(fds)) return 1;
  fflush(stdout);
  pid_t pid = fork();
  if (pid == 0) {
    close(fds[0]);
    const char *msg = "hello from the child\n";
    write(fds[1], msg, strlen(msg));
    _exit(5);
  }
  close(fds[1]);
  int status = 0;
  if (waitpid(pid, &status, 0) != pid) return 2;
  char buf[100] = { 0 };
  ssize_t n = read(fds[0], buf, sizeof buf - 1);
  printf("child exited %d, read %zd: %s", WIFEXITED(status) ? WEXITSTATUS(status) : -1, n, buf);
  pid = fork();
  if (pid == 0) { execl("/bin/sh", "sh", "-c", "echo from an exec-ed host shell; exit 9", (char *)0); _exit(127); }
  waitpid(pid, &status, 0);
  printf("exec'd child exited %d\n", WEXITSTATUS(status));
  printf("no more children: %d\n", (int)waitpid(-1, &status, WNOHANG));
  return 0;
}
