/* Integer kernels that exercise multiplies, divides, shifts, bit ops and 64-bit arithmetic. */
#include <stdio.h>
#include <stdint.h>
static uint32_t rotl(uint32_t x, int k) { return (x << k) | (x >> (32 - k)); }
int main(void) {
  uint64_t h = 1469598103934665603ull; uint32_t x = 0x12345678, acc = 0; int64_t s = 0;
  for (int i = 1; i < 20000; i++) {
    x ^= x << 13; x ^= x >> 17; x ^= x << 5;
    h = (h ^ (x & 0xff)) * 1099511628211ull;
    acc += (x / (uint32_t)i) + (uint32_t)((int32_t)x % (i | 1)) + __builtin_clz(x | 1) + __builtin_popcount(x) + rotl(x, i & 31);
    s += (int64_t)(int32_t)x * (int32_t)(x >> 3) >> 7;
    acc += (uint32_t)(((uint64_t)x * 0x9e3779b9u) >> 32);
    acc ^= __builtin_bswap32(x) + (uint16_t)__builtin_bswap16((uint16_t)x);
    acc += (int8_t)x + (int16_t)(x >> 8) + ((x >> 3) & 0x7ff);
  }
  printf("%08x %016llx %lld\n", acc, (unsigned long long)h, (long long)s);
  int64_t q = -1234567890123ll; for (int i = 1; i < 40; i++) q = q * 3 / (i + 1) + i;
  printf("%lld %llu\n", (long long)q, (unsigned long long)q % 1000000007ull);
  return (int)(acc & 0x7f);
}
