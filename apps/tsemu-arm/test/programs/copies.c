// memcpy / memmove / memset of every small length and alignment, often
// enough that their TBs get hot (glibc's ARM memcpy enters an unrolled copy
// sequence through `add pc, pc, rN`: tsemu-arm, without NEON, runs that
// one; qemu-arm runs the NEON variant, so only results are compared), and
// the same kind of jump in ARM code of our own, hot, then faulting in the
// middle of its sequence: the handler sees the same address and the same
// words copied as under qemu-arm.
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static unsigned char src[512], dst[512];

// copy_tail(dst_end, src_end, n): copies the n (0..8) words before src_end
// to those before dst_end, entering an unrolled sequence with add pc.
void copy_tail(void *dst_end, const void *src_end, int n);
__asm__(
  ".pushsection .text.copy_tail, \"ax\"\n"
  ".arm\n"
  ".global copy_tail\n"
  ".type copy_tail, %function\n"
  "copy_tail:\n"
  "  rsb r3, r2, #8\n"
  "  add pc, pc, r3, lsl #3\n"
  "  nop\n"
  "  ldr r3, [r1, #-32]\n  str r3, [r0, #-32]\n"
  "  ldr r3, [r1, #-28]\n  str r3, [r0, #-28]\n"
  "  ldr r3, [r1, #-24]\n  str r3, [r0, #-24]\n"
  "  ldr r3, [r1, #-20]\n  str r3, [r0, #-20]\n"
  "  ldr r3, [r1, #-16]\n  str r3, [r0, #-16]\n"
  "  ldr r3, [r1, #-12]\n  str r3, [r0, #-12]\n"
  "  ldr r3, [r1, #-8]\n  str r3, [r0, #-8]\n"
  "  ldr r3, [r1, #-4]\n  str r3, [r0, #-4]\n"
  "  bx lr\n"
  ".size copy_tail, .-copy_tail\n"
#ifdef __thumb__
  ".thumb\n"
#endif
  ".popsection\n");
static sigjmp_buf env;
static volatile void *fault_addr;

static void on_segv(int sig, siginfo_t *si, void *ctx) {
  (void)sig; (void)ctx;
  fault_addr = si->si_addr;
  siglongjmp(env, 1);
}

static unsigned sum(const unsigned char *p, int n) {
  unsigned h = 2166136261u;
  for (int i = 0; i < n; i++) h = (h ^ p[i]) * 16777619u;
  return h;
}

int main(void) {
  for (int i = 0; i < 512; i++) src[i] = (unsigned char)(i * 7 + 3);
  unsigned total = 0;
  for (int round = 0; round < 40; round++) {
    for (int len = 0; len <= 160; len++) {
      for (int a = 0; a < 8; a++) {
        memset(dst, round, sizeof dst);
        memcpy(dst + a, src + ((a * 3 + round) & 7), len);
        total = total * 31 + sum(dst, 200);
        memmove(dst + a + 1, dst + a, len);
        total = total * 31 + sum(dst, 200);
        memset(dst + (a ^ 5), len, len / 2);
        total = total * 31 + sum(dst, 200);
      }
    }
    if (round % 10 == 0) printf("round %d: %08x\n", round, total);
  }
  printf("total %08x\n", total);

  static unsigned words[64];
  for (int round = 0; round < 200; round++)
    for (int n = 0; n <= 8; n++) {
      copy_tail(words + 8 + (round & 31), src + 64 + 4 * n, n);
      total = total * 31 + sum((unsigned char *)words, sizeof words);
    }
  printf("copy_tail %08x\n", total);

  long page = sysconf(_SC_PAGESIZE);
  unsigned char *map = mmap(0, 2 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (map == MAP_FAILED) return 2;
  mprotect(map + page, page, PROT_READ);
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_sigaction = on_segv;
  sa.sa_flags = SA_SIGINFO;
  sigaction(SIGSEGV, &sa, 0);
  for (int n = 0; n <= 8; n++) {
    memset(map + page - 64, 0, 64);
    if (sigsetjmp(env, 1) == 0) {
      copy_tail(map + page + 12, src + 100, n);
      printf("n %d: no fault, sum %08x\n", n, sum(map + page - 64, 64));
    } else {
      printf("n %d: fault at page%+ld, sum %08x\n", n,
        (long)((unsigned char *)fault_addr - (map + page)), sum(map + page - 64, 64));
    }
  }
  return 0;
}
