#include <stdio.h>
#include <signal.h>
#include <setjmp.h>
#include <string.h>
static sigjmp_buf env;
static volatile int got;
static void on_usr1(int s) { got += s; }
static void on_ill(int s) { siglongjmp(env, s); }
int main(void) {
  signal(SIGUSR1, on_usr1);
  for (int i = 0; i < 3; i++) raise(SIGUSR1);
  printf("usr1 handler ran, got=%d\n", got);
  struct sigaction sa; memset(&sa, 0, sizeof sa); sa.sa_handler = on_ill; sigaction(SIGILL, &sa, 0);
  int r = sigsetjmp(env, 1);
  if (r == 0) {
#ifdef __thumb__
    __asm__ volatile(".inst.n 0xde42"); /* udf #0x42 */
#else
    __asm__ volatile(".inst 0xe7f000f0"); /* udf */
#endif
    printf("not reached\n");
  }
  else printf("caught SIGILL (%d)\n", r);
  fflush(stdout);
  return 7;
}
