/* Floating point: arithmetic, conversions, rounding, special values, libm. */
#include <stdio.h>
#include <math.h>
#include <float.h>
int main(void) {
  volatile double z = 0.0, one = 1.0; volatile float fz = 0.0f;
  printf("%f %f %f %f\n", one / z, -one / z, z / z, sqrt(-one));
  printf("%f %f\n", (double)(fz / fz), (double)(1.0f / fz));
  double vals[] = { 0.1, -2.5, 3.5, 1e300, -1e-300, 123456.789, 2147483648.0, -2147483649.0, 4294967296.0, NAN };
  for (unsigned i = 0; i < sizeof vals / sizeof vals[0]; i++) {
    double v = vals[i]; float f = (float)v;
    printf("%g %.9g %d %u %lld %ld %g %g %g\n", v, f, (int)v, (unsigned)v, (long long)v, lrint(v), floor(v), ceil(v), round(v));
  }
  double a = 1.0; for (int i = 0; i < 60; i++) a = a * 1.1 - 0.05 / (i + 1);
  float b = 1.0f; for (int i = 0; i < 60; i++) b = b * 1.1f - 0.05f / (i + 1);
  printf("%.17g %.9g %a %a\n", a, b, a, (double)b);
  printf("%.6f %.6f %.6f %.6f %.6f\n", pow(2.0, 0.5), atan2(1.0, -2.0), fmod(10.5, 3.2), tanh(0.7), cbrt(27.5));
  printf("%d %d %d\n", a > b, isnan(z / z), DBL_MAX > FLT_MAX);
  return 0;
}
