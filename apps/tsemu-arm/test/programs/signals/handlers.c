/* Caught synchronous signals: SIGSEGV (MAPERR / ACCERR, si_addr), SIGILL,
 * SIGFPE, retry after mprotect, sigaltstack for a stack overflow, registers
 * and VFP state across a handler, SA_RESETHAND / SA_NODEFER, kill / raise
 * siginfo, blocked signals delivered on unblock. Compared with qemu-arm. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <ucontext.h>
#include <unistd.h>

static sigjmp_buf env;
static volatile int sig_seen, code_seen, faults;
static void *volatile addr_seen;
static volatile unsigned long pc_seen, cpsr_seen, vfp_magic;
static volatile unsigned long r4_seen, r5_seen;
static char *volatile fix_page;
static volatile int fix_mode;

static void on_fault(int sig, siginfo_t *si, void *ctx) {
  ucontext_t *uc = ctx;
  sig_seen = sig; code_seen = si->si_code; addr_seen = si->si_addr; faults++;
  pc_seen = uc->uc_mcontext.arm_pc; cpsr_seen = uc->uc_mcontext.arm_cpsr;
  r4_seen = uc->uc_mcontext.arm_r4; r5_seen = uc->uc_mcontext.arm_r5;
  vfp_magic = uc->uc_regspace[0];
  if (fix_mode) {
    /* Clobber a caller-saved VFP register: the interrupted code must get its own back. */
    __asm__ volatile("vmov.f64 d7, #1.0" ::: "d7");
    mprotect(fix_page, 4096, PROT_READ | PROT_WRITE);
    return; /* retry the faulting instruction */
  }
  siglongjmp(env, 1);
}

static void catch(int sig, int flags) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_sigaction = on_fault;
  sa.sa_flags = SA_SIGINFO | flags;
  sigaction(sig, &sa, 0);
}

static const char *codestr(int c) {
  switch (c) {
  case SEGV_MAPERR: return "SEGV_MAPERR/ILL_ILLOPC/BUS_ADRALN(1)";
  case SEGV_ACCERR: return "SEGV_ACCERR/ILL_ILLOPN(2)";
  case SI_USER: return "SI_USER";
  case SI_TKILL: return "SI_TKILL";
  default: return "other";
  }
}

#define TRY(label, stmt, expect_addr)                                                          \
  do {                                                                                         \
    sig_seen = 0;                                                                              \
    if (sigsetjmp(env, 1) == 0) { stmt; printf("%s: no signal\n", label); }                   \
    else printf("%s: sig %d code %s addr-ok %d\n", label, sig_seen, codestr(code_seen),     \
                addr_seen == (void *)(expect_addr));                                          \
  } while (0)

#ifdef __thumb__
__attribute__((naked)) static void undefined_insn(void) { __asm__ volatile(".inst.n 0xde00\n bx lr"); }
#else
__attribute__((naked)) static void undefined_insn(void) { __asm__ volatile(".inst 0xe7f000f0\n bx lr"); }
#endif

static int depth_sink;
static int recurse(int n) {
  volatile char buf[512];
  buf[0] = (char)n;
  depth_sink += buf[0];
  return recurse(n + 1) + buf[0];
}

static volatile char *alt_lo, *alt_hi;
static volatile int on_alt, alt_flags;
static void on_overflow(int sig, siginfo_t *si, void *ctx) {
  char here;
  stack_t cur;
  (void)si; (void)ctx;
  on_alt = &here > alt_lo && &here < alt_hi;
  sigaltstack(0, &cur);
  alt_flags = cur.ss_flags;
  sig_seen = sig;
  siglongjmp(env, 1);
}

static volatile int usr_code, usr_pid_ok, usr_count, usr_blocked_inside;
static void on_usr(int sig, siginfo_t *si, void *ctx) {
  sigset_t cur;
  (void)ctx;
  usr_code = si->si_code;
  usr_pid_ok = si->si_pid == getpid();
  usr_count++;
  sigprocmask(SIG_BLOCK, 0, &cur);
  usr_blocked_inside = sigismember(&cur, sig);
}

int main(void) {
  setvbuf(stdout, 0, _IONBF, 0);
  catch(SIGSEGV, 0);
  catch(SIGBUS, 0);
  catch(SIGILL, 0);

  TRY("null read", (void)*(volatile int *)0, 0);
  TRY("null write", *(volatile int *)0 = 1, 0);
  TRY("high unmapped read", (void)*(volatile int *)0xbff00000, 0xbff00000);
  char *lit = (char *)"string literal";
  TRY("write .rodata", *(volatile char *)(lit + 3) = 'x', lit + 3);

  char *page = mmap(0, 3 * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  page[0] = 1;
  mprotect(page, 4096, PROT_READ);
  TRY("write PROT_READ page", *(volatile int *)(page + 8) = 2, page + 8);
  TRY("read PROT_READ page", (void)*(volatile int *)(page + 8), 0);
  mprotect(page + 4096, 4096, PROT_NONE);
  TRY("read PROT_NONE page", (void)*(volatile int *)(page + 4096 + 12), page + 4096 + 12);
  munmap(page + 2 * 4096, 4096);
  TRY("read unmapped page", (void)*(volatile short *)(page + 2 * 4096 + 2), page + 2 * 4096 + 2);
  TRY("write PROT_WRITE->ok, after munmap", *(volatile char *)(page + 2 * 4096) = 1, page + 2 * 4096);

  /* Retry: the handler makes the page writable and returns. Registers (incl. d7) survive. */
  fix_page = page; fix_mode = 1; faults = 0;
  {
    register unsigned r4 __asm__("r4") = 0x4444;
    register unsigned r5 __asm__("r5") = 0x5555;
    double in = 2.5, out;
    __asm__ volatile("vmov.f64 d7, %P[in]\n\t"
                     "str %[val], [%[p], #16]\n\t"
                     "vmov.f64 %P[out], d7"
                     : [out] "=w"(out), "+r"(r4), "+r"(r5)
                     : [in] "w"(in), [val] "r"(77), [p] "r"(page)
                     : "d7", "memory");
    printf("retry: faults %d value %d r4 %x r5 %x seen r4 %lx r5 %lx d7 %.2f code %s addr-ok %d vfp magic %lx\n",
           faults, *(int *)(page + 16), r4, r5, r4_seen, r5_seen, out, codestr(code_seen), addr_seen == page + 16, vfp_magic);
  }
  fix_mode = 0;

  /* Executing from a page without PROT_EXEC, then with it. */
  unsigned *code = mmap(0, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  code[0] = 0xe3a0002a; /* mov r0, #42 */
  code[1] = 0xe12fff1e; /* bx lr */
  int (*fn)(void) = (int (*)(void))code;
  TRY("exec RW page", fn(), code);
  mprotect(code, 4096, PROT_READ | PROT_EXEC);
  __builtin___clear_cache((char *)code, (char *)(code + 2));
  printf("exec R+X page: %d\n", fn());
  mprotect(code, 4096, PROT_READ);
  TRY("exec after mprotect PROT_READ", fn(), code);
  TRY("jump to unmapped", ((int (*)(void))0x100)(), 0x100);

  {
    static int words[4];
    unsigned v;
    TRY("unaligned ldrex", __asm__ volatile("ldrex %0, [%1]" : "=r"(v) : "r"((char *)words + 2)), (char *)words + 2);
    TRY("unaligned ldm", __asm__ volatile("ldm %1, {%0}" : "=r"(v) : "r"((char *)words + 1)), (char *)words + 1);
    TRY("unaligned ldr", __asm__ volatile("ldr %0, [%1]" : "=r"(v) : "r"((char *)words + 1)), 0);
  }
  TRY("undefined instruction", undefined_insn(), (uintptr_t)undefined_insn & ~1u);
  printf("SIGILL pc-ok %d thumb %lu\n", pc_seen == ((uintptr_t)undefined_insn & ~1u), (cpsr_seen >> 5) & 1);

  /* Integer division by zero: ARMv7 does not trap; libgcc's __aeabi_idiv0 raises SIGFPE. */
  catch(SIGFPE, 0);
  {
    volatile int a = 7, b = 0;
    volatile int c = 0;
    TRY("divide by zero", c = a / b, 0);
    (void)c;
  }

  /* Stack overflow: the handler runs on the alternate stack. */
  {
    stack_t ss;
    ss.ss_size = 64 * 1024;
    ss.ss_sp = malloc(ss.ss_size);
    ss.ss_flags = 0;
    alt_lo = ss.ss_sp; alt_hi = (char *)ss.ss_sp + ss.ss_size;
    printf("sigaltstack: %d\n", sigaltstack(&ss, 0));
    stack_t q;
    sigaltstack(0, &q);
    printf("altstack query: flags %d size-ok %d\n", q.ss_flags, q.ss_size == ss.ss_size);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_overflow;
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
    sigaction(SIGSEGV, &sa, 0);
    sig_seen = 0;
    if (sigsetjmp(env, 1) == 0) printf("recursion returned %d\n", recurse(0));
    else printf("stack overflow: sig %d on alternate stack %d ss_flags %d\n", sig_seen, on_alt, alt_flags);
    sigaltstack(0, &q);
    printf("after: flags %d\n", q.ss_flags);
  }

  /* kill / raise siginfo, SA_RESETHAND, SA_NODEFER, blocked until unblocked. */
  {
    struct sigaction sa, old;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_usr;
    sa.sa_flags = SA_SIGINFO;
    sigaction(SIGUSR1, &sa, 0);
    kill(getpid(), SIGUSR1);
    printf("kill: count %d code %s pid-ok %d blocked-inside %d\n", usr_count, codestr(usr_code), usr_pid_ok, usr_blocked_inside);
    raise(SIGUSR1);
    printf("raise: count %d code %s pid-ok %d\n", usr_count, codestr(usr_code), usr_pid_ok);
    sa.sa_flags = SA_SIGINFO | SA_NODEFER | SA_RESETHAND;
    sigaction(SIGUSR2, &sa, 0);
    raise(SIGUSR2);
    sigaction(SIGUSR2, 0, &old);
    printf("nodefer: blocked-inside %d, resethand: now default %d\n", usr_blocked_inside, old.sa_handler == SIG_DFL);
    sigset_t set, pend;
    sigemptyset(&set);
    sigaddset(&set, SIGUSR1);
    sigprocmask(SIG_BLOCK, &set, 0);
    int before = usr_count;
    raise(SIGUSR1);
    sigpending(&pend);
    printf("blocked: delivered %d pending %d\n", usr_count - before, sigismember(&pend, SIGUSR1));
    sigprocmask(SIG_UNBLOCK, &set, 0);
    printf("unblocked: delivered %d\n", usr_count - before);
    sigprocmask(SIG_BLOCK, &set, 0);
    before = usr_count;
    raise(SIGUSR1);
    sigset_t none;
    sigemptyset(&none);
    int sr = sigsuspend(&none);
    printf("sigsuspend: %d delivered %d\n", sr, usr_count - before);
    sigprocmask(SIG_UNBLOCK, &set, 0);
    signal(SIGUSR1, SIG_IGN);
    raise(SIGUSR1);
    printf("ignored: still alive\n");
  }
  return 0;
}
