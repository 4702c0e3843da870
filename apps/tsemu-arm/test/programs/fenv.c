/* VFP rounding modes and exception flags through <fenv.h>, plus FZ / DN
 * through FPSCR directly: each result is printed as bits with the flags the
 * operation raised. Part of it is compiled for VFPv4 (fused multiply-add). */
#include <fenv.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

static volatile double D[] = {1.0, 3.0, 0.1, -2.5, 1e308, 1e-308, 0x1p-1074, 0x1.fffffffffffffp1023, -0.0, INFINITY, NAN, 0x1p-1022, 1e-160, 7.0};
static volatile float F[] = {1.0f, 3.0f, 0.1f, -2.5f, 3e38f, 1e-38f, 0x1p-149f, 0x1.fffffep127f, -0.0f, INFINITY, NAN, 0x1p-126f, 1e-20f, 7.0f};
#define ND (int)(sizeof D / sizeof D[0])
#define NF (int)(sizeof F / sizeof F[0])
static const int MODES[] = {FE_TONEAREST, FE_UPWARD, FE_DOWNWARD, FE_TOWARDZERO};
static volatile double rd;
static volatile float rf;
static volatile int ri;

static unsigned long long dbits(double x) { unsigned long long u; memcpy(&u, &x, 8); return u; }
static unsigned fbits(float x) { unsigned u; memcpy(&u, &x, 4); return u; }
static unsigned fpscr(void) { unsigned v; __asm__ volatile("vmrs %0, fpscr" : "=r"(v)); return v; }
static void set_fpscr(unsigned v) { __asm__ volatile("vmsr fpscr, %0" : : "r"(v)); }
static int flags(void) { return fetestexcept(FE_ALL_EXCEPT); }

static void arith(int m) {
  for (int i = 0; i < ND; i++) {
    for (int j = 0; j < ND; j++) {
      printf("d%d %d %d:", m, i, j);
      feclearexcept(FE_ALL_EXCEPT); rd = D[i] + D[j]; printf(" %016llx/%x", dbits(rd), flags());
      feclearexcept(FE_ALL_EXCEPT); rd = D[i] - D[j]; printf(" %016llx/%x", dbits(rd), flags());
      feclearexcept(FE_ALL_EXCEPT); rd = D[i] * D[j]; printf(" %016llx/%x", dbits(rd), flags());
      feclearexcept(FE_ALL_EXCEPT); rd = D[i] / D[j]; printf(" %016llx/%x\n", dbits(rd), flags());
      printf("f%d %d %d:", m, i, j);
      feclearexcept(FE_ALL_EXCEPT); rf = F[i] + F[j]; printf(" %08x/%x", fbits(rf), flags());
      feclearexcept(FE_ALL_EXCEPT); rf = F[i] - F[j]; printf(" %08x/%x", fbits(rf), flags());
      feclearexcept(FE_ALL_EXCEPT); rf = F[i] * F[j]; printf(" %08x/%x", fbits(rf), flags());
      feclearexcept(FE_ALL_EXCEPT); rf = F[i] / F[j]; printf(" %08x/%x\n", fbits(rf), flags());
    }
    printf("u%d %d:", m, i);
    feclearexcept(FE_ALL_EXCEPT); rd = sqrt(D[i]); printf(" %016llx/%x", dbits(rd), flags());
    feclearexcept(FE_ALL_EXCEPT); rf = sqrtf(F[i]); printf(" %08x/%x", fbits(rf), flags());
    feclearexcept(FE_ALL_EXCEPT); rf = (float)D[i]; printf(" %08x/%x", fbits(rf), flags());
    feclearexcept(FE_ALL_EXCEPT); rd = F[i]; printf(" %016llx/%x", dbits(rd), flags());
    feclearexcept(FE_ALL_EXCEPT); ri = (int)D[i]; printf(" %d/%x", ri, flags());
    feclearexcept(FE_ALL_EXCEPT); ri = (int)lrint(D[i] * 1e-300 * 1e300); printf(" %d/%x", ri, flags());
    feclearexcept(FE_ALL_EXCEPT); rd = rint(D[i]); printf(" %016llx/%x", dbits(rd), flags());
    feclearexcept(FE_ALL_EXCEPT); rf = (float)(int)(0x7fffff01 - i * 77); printf(" %08x/%x\n", fbits(rf), flags());
  }
}

#pragma GCC push_options
#pragma GCC target("fpu=vfpv4")
/* Fused multiply-add (VFMA) with every rounding mode; contraction of a*b+c too. */
static void fused(int m) {
  for (int i = 0; i < ND; i += 2) {
    printf("fma%d %d:", m, i);
    for (int j = 1; j < ND; j += 3) {
      for (int k = 0; k < ND; k += 4) {
        feclearexcept(FE_ALL_EXCEPT); rd = fma(D[i], D[j], D[k]); printf(" %016llx/%x", dbits(rd), flags());
        feclearexcept(FE_ALL_EXCEPT); rf = fmaf(F[i], F[j], F[k]); printf(" %08x/%x", fbits(rf), flags());
      }
    }
    feclearexcept(FE_ALL_EXCEPT); rd = D[i] * 0.1 - 0.3; printf(" %016llx/%x\n", dbits(rd), flags());
  }
}
#pragma GCC pop_options

/* Flush-to-zero (FPSCR bit 24) and default NaN (bit 25): raw FPSCR after each operation. */
static void fz_dn(void) {
  static const unsigned ctl[] = {0, 1u << 24, 1u << 25, 3u << 24, (3u << 24) | (2u << 22)};
  for (int c = 0; c < 5; c++) {
    for (int i = 0; i < ND; i++) {
      printf("z%d %d:", c, i);
      set_fpscr(ctl[c]); rd = D[i] * 0x1p-60; printf(" %016llx/%08x", dbits(rd), fpscr());
      set_fpscr(ctl[c]); rd = D[i] + D[(i + 5) % ND]; printf(" %016llx/%08x", dbits(rd), fpscr());
      set_fpscr(ctl[c]); rf = F[i] * 0x1p-30f; printf(" %08x/%08x", fbits(rf), fpscr());
      set_fpscr(ctl[c]); rf = F[i] - F[(i + 6) % NF]; printf(" %08x/%08x", fbits(rf), fpscr());
      set_fpscr(ctl[c]); rf = (float)D[i]; printf(" %08x/%08x", fbits(rf), fpscr());
      set_fpscr(ctl[c]); ri = (int)F[i]; printf(" %d/%08x", ri, fpscr());
      set_fpscr(ctl[c]); ri = F[i] < F[(i + 3) % NF]; printf(" %d/%08x\n", ri, fpscr());
    }
  }
  set_fpscr(0);
}

int main(void) {
  for (int m = 0; m < 4; m++) {
    fesetround(MODES[m]);
    arith(m);
    fused(m);
  }
  fesetround(FE_TONEAREST);
  fz_dn();
  feclearexcept(FE_ALL_EXCEPT);
  feraiseexcept(FE_INEXACT | FE_OVERFLOW);
  printf("raised %x rounding %x\n", flags(), fegetround());
  return 0;
}
