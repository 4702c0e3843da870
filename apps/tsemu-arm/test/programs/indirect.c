/* Calls through pointers and returns in hot loops. A hot TB whose indirect
 * branch always went to one place is translated again through it, behind a
 * check (and the callee's return is predicted): here the target changes in
 * the middle of a loop, a function returns to a second caller, the callee is
 * in the other instruction set (ARM <-> Thumb), a called function longjmps
 * out or raises a signal, and code called in a loop is rewritten. */
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

typedef int (*op_t)(int, int);
__attribute__((noinline)) static int add(int a, int b) { return a + b; }
__attribute__((noinline)) static int sub(int a, int b) { return a - b * 3; }
__attribute__((noinline, target("arm"))) static int mul_arm(int a, int b) { return a * 5 + b; }
__attribute__((noinline, target("thumb"))) static int xor_thumb(int a, int b) { return (a ^ b) + 7; }
static op_t volatile table[4] = { add, sub, mul_arm, xor_thumb };

/* One indirect call per iteration, to one target. */
__attribute__((noinline)) static int run(op_t f, int n, int seed) {
  int acc = seed;
  for (int i = 0; i < n; i++) acc = f(acc, i);
  return acc;
}

/* The target changes after `at` iterations (the check then fails every time). */
__attribute__((noinline)) static int run_switch(int n, int at, int from, int to) {
  int acc = 1;
  for (int i = 0; i < n; i++) acc = table[i < at ? from : to](acc, i);
  return acc;
}

/* A function whose return first always goes to one caller, then to another. */
__attribute__((noinline)) static int helper(int x) { return x * 3 + 1; }
__attribute__((noinline)) static int loop_a(int n) { int s = 0; for (int i = 0; i < n; i++) s += helper(i); return s; }
__attribute__((noinline)) static int loop_b(int n) { int s = 0; for (int i = 0; i < n; i++) s ^= helper(i) << 1; return s; }

static jmp_buf jb;
__attribute__((noinline)) static int maybe_jump(int a, int b) {
  if (b == 777) longjmp(jb, (a & 0xffff) | 1);
  return a + b;
}

static volatile int signals;
static void on_usr1(int sig) { (void)sig; signals++; }
__attribute__((noinline)) static int maybe_raise(int a, int b) {
  if (b % 250 == 249) raise(SIGUSR1);
  return a + (b ^ signals);
}

int main(void) {
  for (int k = 0; k < 4; k++) printf("run %d: %d\n", k, run(table[k], 1000, k));
  for (int from = 0; from < 4; from++)
    for (int to = 0; to < 4; to++)
      if (from != to) printf("switch %d->%d: %d\n", from, to, run_switch(600, 300, from, to));
  printf("callers: %d %d %d\n", loop_a(500), loop_b(500), loop_a(20));

  int v = setjmp(jb);
  if (v == 0) printf("no jump: %d\n", run(maybe_jump, 1000, 0));
  else printf("jumped: %d\n", v);

  signal(SIGUSR1, on_usr1);
  printf("signals: %d %d\n", run(maybe_raise, 1000, 0), signals);

  /* Code written at run time: ARM `add r0, r0, r1; bx lr`, then `sub`; Thumb `adds r0, r0, r1; bx lr` after it. */
  uint32_t *code = mmap(0, 4096, PROT_READ | PROT_WRITE | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (code == MAP_FAILED) return 1;
  code[0] = 0xe0800001u;
  code[1] = 0xe12fff1eu;
  code[2] = 0x47701840u;
  __builtin___clear_cache((char *)code, (char *)(code + 3));
  printf("jit add: %d\n", run((op_t)code, 1000, 0));
  code[0] = 0xe0400001u;
  __builtin___clear_cache((char *)code, (char *)(code + 1));
  printf("jit sub: %d\n", run((op_t)code, 1000, 0));
  printf("jit thumb: %d\n", run((op_t)((uintptr_t)(code + 2) | 1), 1000, 5));
  return 0;
}
