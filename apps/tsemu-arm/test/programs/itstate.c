/* Thumb-2 IT blocks that a translation block cannot swallow whole: an SVC in
 * the middle of an IT block (the rest of the block must stay conditional
 * after the system call returns), IT blocks straddling the translator's
 * block-length limit, a conditional load to pc ending an IT block, and a
 * SIGSEGV inside an IT block (the handler must run outside it; one that
 * returns resumes the block with its remaining conditions).
 * Hand-written Thumb code, called from C (ARM or Thumb). */
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

extern int it_svc(int c);
extern int it_svc_last(int c);
extern int it_pop_pc(int c);
#define SPLITS X(50) X(56) X(57) X(58) X(59) X(60) X(61) X(62) X(63) X(64) X(65) X(66) X(120) X(121) X(122) X(123) X(124) X(125) X(126) X(127) X(128)
#define X(n) extern int split_##n(int c);
SPLITS
#undef X

__asm__(
  ".syntax unified\n.thumb\n"
  /* eq: r7 = getpid, svc; ne: two adds. The adds after the svc are 'ne'. */
  ".global it_svc\n.type it_svc, %function\n.thumb_func\nit_svc:\n"
  "  push {r4-r7, lr}\n  movs r4, #0\n  cmp r0, #0\n"
  "  itttt eq\n  moveq r7, #20\n  svceq #0\n  addeq r4, r4, #1\n  addeq r4, r4, #2\n"
  "  ittee eq\n  moveq r7, #20\n  svceq #0\n  addne r4, r4, #16\n  addne r4, r4, #32\n"
  "  ite ne\n  addne r4, r4, #64\n  addeq r4, r4, #128\n"
  "  mov r0, r4\n  pop {r4-r7, pc}\n"
  /* The svc is the last instruction of its IT block. */
  ".global it_svc_last\n.type it_svc_last, %function\n.thumb_func\nit_svc_last:\n"
  "  push {r4-r7, lr}\n  movs r4, #5\n  movs r7, #20\n  cmp r0, #1\n"
  "  itt ne\n  addne r4, r4, #10\n  svcne #0\n  add r4, r4, #100\n"
  "  mov r0, r4\n  pop {r4-r7, pc}\n"
  /* A load to pc as the last instruction of an IT block. */
  ".global it_pop_pc\n.type it_pop_pc, %function\n.thumb_func\nit_pop_pc:\n"
  "  push {r4, lr}\n  movs r4, #1\n  cmp r0, #3\n"
  "  ittt gt\n  addgt r0, r0, #40\n  addgt r0, r0, r4\n  popgt {r4, pc}\n"
  "  subs r0, r0, #7\n  pop {r4, pc}\n"
  /* split_N: N flag-setting adds, then an IT block; somewhere in the range the
   * block-length limit falls inside the IT block. */
  ".macro ITSPLIT n\n.global split_\\n\n.type split_\\n, %function\n.thumb_func\nsplit_\\n:\n"
  "  push {r4, lr}\n  movs r4, #0\n  .rept \\n\n  adds r4, r4, #1\n  .endr\n  cmp r0, #1\n"
  "  itete eq\n  addeq r4, r4, #10\n  addne r4, r4, #20\n  addeq r4, r4, #40\n  addne r4, r4, #80\n"
  "  itt hi\n  addhi r4, r4, #3\n  addhi r4, r4, #5\n"
  "  mov r0, r4\n  pop {r4, pc}\n.endm\n"
#define X(n) "ITSPLIT " #n "\n"
  SPLITS
#undef X
  ".arm\n"
);

static sigjmp_buf jb;
static volatile int hits;
static void on_segv(int sig) { hits += sig; hits += 100; hits += 1000; siglongjmp(jb, 1); }

/* A load from address 0 in the middle of an IT block. */
static int segv_in_it(void) {
  signal(SIGSEGV, on_segv);
  if (!sigsetjmp(jb, 1))
    __asm__ volatile(".syntax unified\n  movs r2, #0\n  cmp r2, #0\n  itte eq\n  addeq r2, r2, #0\n  ldreq r1, [r2]\n  addne r2, r2, #1\n"
                     ::: "r1", "r2", "cc", "memory");
  signal(SIGSEGV, SIG_DFL);
  return hits;
}

static char *guarded;
static volatile int resumed;
static void on_segv_open(int sig, siginfo_t *si, void *uc) {
  (void)sig; (void)si; (void)uc;
  resumed++;
  mprotect(guarded, 4096, PROT_READ); /* the load runs again, still inside its IT block */
}

/* A load that faults in the third slot of an itete block; the handler makes
 * the page readable and returns: the load runs again, the fourth slot ('ne')
 * stays skipped, as the first two kept their conditions. */
static void resume_in_it(void) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_sigaction = on_segv_open;
  sa.sa_flags = SA_SIGINFO;
  sigaction(SIGSEGV, &sa, 0);
  guarded = mmap(0, 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  unsigned loaded = 5, acc = 1;
  __asm__ volatile(".syntax unified\n  movs r0, #0\n  cmp r0, #0\n  itete eq\n  addeq %1, %1, #2\n  movne %1, #7\n"
                   "  ldreq %0, [%2]\n  movne %1, #9\n"
                   : "+r"(loaded), "+r"(acc) : "r"(guarded) : "r0", "cc", "memory");
  signal(SIGSEGV, SIG_DFL);
  printf("resume_in_it: %d fault(s), loaded %u, acc %u\n", resumed, loaded, acc);
}

int main(void) {
  for (int c = 0; c < 3; c++) printf("it_svc(%d) = %d\n", c, it_svc(c));
  for (int c = 0; c < 3; c++) printf("it_svc_last(%d) = %d\n", c, it_svc_last(c));
  for (int c = 2; c < 6; c++) printf("it_pop_pc(%d) = %d\n", c, it_pop_pc(c));
  for (int c = 0; c < 3; c++) {
    printf("split(%d):", c);
#define X(n) printf(" %d", split_##n(c) - n);
    SPLITS
#undef X
    printf("\n");
  }
  printf("segv_in_it = %d\n", segv_in_it());
  resume_in_it();
  return 0;
}
