#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>
#include <setjmp.h>
static int cmp(const void *a, const void *b) { int x = *(const int *)a, y = *(const int *)b; return (x > y) - (x < y); }
static jmp_buf jb;
static void jump(int n) { if (n > 3) longjmp(jb, n); jump(n + 1); }
int main(void) {
  double acc = 0; float f = 1.5f;
  for (int i = 1; i <= 1000; i++) { acc += 1.0 / (i * (double)i); f = f * 1.0001f + 0.25f / i; }
  printf("%.15f %.6f %g %e\n", acc, f, sqrt(acc * 6), acc / 3);
  printf("%f %f %f\n", sin(1.0), exp(2.5), log(10.0));
  printf("%d %u %lld %llu %x\n", -12345, 4000000000u, -9000000000000LL, 18000000000000000000ULL, 0xdeadbeef);
  long long a = 123456789012345LL; printf("%lld %lld %lld\n", a * 7, a / 13, a % 1000003);
  unsigned s = 1; int v[200]; for (int i = 0; i < 200; i++) { s = s * 1103515245 + 12345; v[i] = (int)(s >> 8) % 1000 - 500; }
  qsort(v, 200, sizeof v[0], cmp); printf("%d %d %d\n", v[0], v[100], v[199]);
  char *bufs[100]; size_t tot = 0;
  for (int r = 0; r < 20; r++) for (int i = 0; i < 100; i++) { if (r) free(bufs[i]); size_t n = (i * 37 + r * 101) % 5000 + 1; bufs[i] = malloc(n); memset(bufs[i], i, n); tot += n; }
  printf("malloc total %zu\n", tot);
  int r = setjmp(jb); if (!r) jump(0); else printf("longjmp %d\n", r);
  printf("%s\n", strstr("the quick brown fox", "brown"));
  return 0;
}
