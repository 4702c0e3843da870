/* Uncaught signals: `fatal <case>` dies the way the case says; qemu-arm
 * prints "qemu: uncaught target signal N (...) - core dumped" for signals
 * that dump core and ends by the same signal. Compared with qemu-arm. */
#define _GNU_SOURCE
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static int depth(int n) {
  volatile char buf[256];
  buf[0] = (char)n;
  return depth(n + 1) + buf[0];
}

static void refault(int sig) { (void)sig; *(volatile int *)4 = 0; }
static void plain_handler(int sig) { printf("handler %d\n", sig); }

int main(int argc, char **argv) {
  const char *c = argc > 1 ? argv[1] : "";
  printf("case %s\n", c);
  fflush(stdout);
  if (!strcmp(c, "null-read")) return *(volatile int *)0;
  if (!strcmp(c, "null-write")) *(volatile int *)0 = 1;
  if (!strcmp(c, "rodata")) *(volatile char *)"literal" = 'L';
  if (!strcmp(c, "noexec")) {
    unsigned *p = mmap(0, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    p[0] = 0xe12fff1e; /* bx lr */
    ((void (*)(void))p)();
  }
  if (!strcmp(c, "prot-none")) {
    char *p = mmap(0, 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    return p[100];
  }
  if (!strcmp(c, "overflow")) return depth(0);
  if (!strcmp(c, "abort")) abort();
  if (!strcmp(c, "ill")) {
#ifdef __thumb__
    __asm__ volatile(".inst.n 0xde02");
#else
    __asm__ volatile(".inst 0xe7f002f2");
#endif
  }
  if (!strcmp(c, "linux-bkpt")) { /* the undefined encodings Linux treats as breakpoints: SIGTRAP */
#ifdef __thumb__
    __asm__ volatile(".inst.n 0xde01");
#else
    __asm__ volatile(".inst 0xe7f001f0");
#endif
  }
  if (!strcmp(c, "blocked-segv")) {
    sigset_t s;
    sigemptyset(&s);
    sigaddset(&s, SIGSEGV);
    sigprocmask(SIG_BLOCK, &s, 0);
    return *(volatile int *)8;
  }
  if (!strcmp(c, "handler-refaults")) {
    signal(SIGSEGV, refault);
    return *(volatile int *)12;
  }
  if (!strcmp(c, "ignored-segv")) {
    signal(SIGSEGV, SIG_IGN);
    return *(volatile int *)16;
  }
  if (!strcmp(c, "term")) raise(SIGTERM);
  if (!strcmp(c, "usr1")) kill(getpid(), SIGUSR1);
  if (!strcmp(c, "kill")) kill(getpid(), SIGKILL);
  if (!strcmp(c, "fpe")) {
    volatile int a = 1, b = 0, r = a / b;
    return r;
  }
  if (!strcmp(c, "resethand")) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = plain_handler;
    sa.sa_flags = SA_RESETHAND;
    sigaction(SIGUSR2, &sa, 0);
    raise(SIGUSR2);
    fflush(stdout);
    raise(SIGUSR2);
  }
  if (!strcmp(c, "trap")) __builtin_trap();
  if (!strcmp(c, "unaligned-ldrd")) { /* LDRD / LDM / LDREX / VLDR need word alignment: SIGBUS */
    static int words[4];
    unsigned long long v;
    __asm__ volatile("ldrd %0, %H0, [%1]" : "=r"(v) : "r"((char *)words + 2));
    return (int)v;
  }
  if (!strcmp(c, "unaligned-vldr")) { /* VFP loads need word alignment too: SIGBUS */
    static double d[2];
    __asm__ volatile("vldr d7, [%0]" : : "r"((char *)d + 2) : "d7");
  }
  if (!strcmp(c, "vldm-segv")) { /* a VFP multiple load from page 0: SIGSEGV */
    __asm__ volatile("vldmia %0, {d0-d3}" : : "r"(16) : "d0", "d1", "d2", "d3");
  }
  if (!strcmp(c, "vpush-ro")) { /* VSTM into read-only memory (a string literal): SIGSEGV */
    __asm__ volatile("vstmia %0, {d0-d1}" : : "r"("read-only text here") : "memory");
  }
  printf("still alive\n");
  return 3;
}
