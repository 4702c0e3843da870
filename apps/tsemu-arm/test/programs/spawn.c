/* posix_spawn and system(): glibc clones with CLONE_VM | CLONE_VFORK onto a stack of its own. */
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
extern char **environ;
int main(void) {
  char *argv[] = { "sh", "-c", "echo from posix_spawn; exit 6", NULL };
  pid_t pid;
  fflush(stdout);
  int err = posix_spawn(&pid, "/bin/sh", NULL, NULL, argv, environ);
  int st = 0;
  if (err || waitpid(pid, &st, 0) != pid) return 1;
  printf("posix_spawn child exited %d\n", WEXITSTATUS(st));
  fflush(stdout);
  st = system("echo from system; exit 2");
  printf("system returned %d\n", WEXITSTATUS(st));
  return 0;
}
