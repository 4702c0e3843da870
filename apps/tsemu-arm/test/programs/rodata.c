// Loads from read-only data at addresses known when the code is translated
// (a table in .rodata, its address from the literal pool or movw / movt; the
// loads in asm so the compiler keeps them): hot, so their TBs are compiled
// with the values folded in; then the page is made PROT_NONE and the same
// loads must fault, and made readable again they must work.
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

static const uint32_t table[1024] __attribute__((aligned(4096))) = {
  [0] = 0x11111111, [5] = 0x55555555, [700] = 0x70070070, [1023] = 0xfedcba98,
};
static sigjmp_buf env;
static volatile uintptr_t fault_addr;

static void on_segv(int sig, siginfo_t *si, void *ctx) {
  (void)sig; (void)ctx;
  fault_addr = (uintptr_t)si->si_addr;
  siglongjmp(env, 1);
}

__attribute__((noinline)) static uint32_t probe(void) {
  uint32_t a, b, c;
  __asm__ volatile("ldr %0, [%3]\n\tldr %1, [%3, #20]\n\tldr %2, [%3, #2800]" : "=&r"(a), "=&r"(b), "=&r"(c) : "r"(table) : "memory");
  return a ^ (b << 1) ^ (c >> 3);
}

int main(void) {
  uint32_t acc = 0;
  for (int i = 0; i < 20000; i++) acc = acc * 31 + probe();
  printf("hot: %08x\n", acc);
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_sigaction = on_segv;
  sa.sa_flags = SA_SIGINFO;
  sigaction(SIGSEGV, &sa, 0);
  for (int prot = 0; prot < 2; prot++) {
    mprotect((void *)table, sizeof table, prot ? PROT_READ : PROT_NONE);
    if (sigsetjmp(env, 1) == 0) printf("prot %d: %08x\n", prot, probe());
    else printf("prot %d: SIGSEGV at table%+ld\n", prot, (long)(fault_addr - (uintptr_t)table));
  }
  return 0;
}
