/* CPU-bound armhf benchmark: sieve, CRC32, SHA-256 rounds, qsort, matrix multiply.
 * usage: cpu-kernels ROUNDS [OUTFILE]  -- prints (or writes) one checksum line. */
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static uint32_t crc_table[256];
static void crc_init(void) {
  for (uint32_t i = 0; i < 256; i++) { uint32_t c = i; for (int k = 0; k < 8; k++) c = c & 1 ? 0xedb88320u ^ (c >> 1) : c >> 1; crc_table[i] = c; }
}
static uint32_t crc32(const uint8_t *p, size_t n, uint32_t c) { c = ~c; while (n--) c = crc_table[(c ^ *p++) & 0xff] ^ (c >> 8); return ~c; }

#define ROR(x, n) (((x) >> (n)) | ((x) << (32 - (n))))
static const uint32_t K[64] = {
  0x428a2f98,0x71374491,0xb5c0fbcf,0xe9b5dba5,0x3956c25b,0x59f111f1,0x923f82a4,0xab1c5ed5,0xd807aa98,0x12835b01,0x243185be,0x550c7dc3,
  0x72be5d74,0x80deb1fe,0x9bdc06a7,0xc19bf174,0xe49b69c1,0xefbe4786,0x0fc19dc6,0x240ca1cc,0x2de92c6f,0x4a7484aa,0x5cb0a9dc,0x76f988da,
  0x983e5152,0xa831c66d,0xb00327c8,0xbf597fc7,0xc6e00bf3,0xd5a79147,0x06ca6351,0x14292967,0x27b70a85,0x2e1b2138,0x4d2c6dfc,0x53380d13,
  0x650a7354,0x766a0abb,0x81c2c92e,0x92722c85,0xa2bfe8a1,0xa81a664b,0xc24b8b70,0xc76c51a3,0xd192e819,0xd6990624,0xf40e3585,0x106aa070,
  0x19a4c116,0x1e376c08,0x2748774c,0x34b0bcb5,0x391c0cb3,0x4ed8aa4a,0x5b9cca4f,0x682e6ff3,0x748f82ee,0x78a5636f,0x84c87814,0x8cc70208,
  0x90befffa,0xa4506ceb,0xbef9a3f7,0xc67178f2 };
static void sha256_block(uint32_t h[8], const uint8_t *p) {
  uint32_t w[64], a, b, c, d, e, f, g, hh;
  for (int i = 0; i < 16; i++) w[i] = (uint32_t)p[4*i] << 24 | p[4*i+1] << 16 | p[4*i+2] << 8 | p[4*i+3];
  for (int i = 16; i < 64; i++) w[i] = w[i-16] + (ROR(w[i-15],7) ^ ROR(w[i-15],18) ^ (w[i-15] >> 3)) + w[i-7] + (ROR(w[i-2],17) ^ ROR(w[i-2],19) ^ (w[i-2] >> 10));
  a = h[0]; b = h[1]; c = h[2]; d = h[3]; e = h[4]; f = h[5]; g = h[6]; hh = h[7];
  for (int i = 0; i < 64; i++) {
    uint32_t t1 = hh + (ROR(e,6) ^ ROR(e,11) ^ ROR(e,25)) + ((e & f) ^ (~e & g)) + K[i] + w[i];
    uint32_t t2 = (ROR(a,2) ^ ROR(a,13) ^ ROR(a,22)) + ((a & b) ^ (a & c) ^ (b & c));
    hh = g; g = f; f = e; e = d + t1; d = c; c = b; b = a; a = t1 + t2;
  }
  h[0] += a; h[1] += b; h[2] += c; h[3] += d; h[4] += e; h[5] += f; h[6] += g; h[7] += hh;
}
static int cmp(const void *x, const void *y) { uint32_t a = *(const uint32_t *)x, b = *(const uint32_t *)y; return (a > b) - (a < b); }

static uint8_t sieve[1 << 20];
static uint32_t arr[20000];
int main(int argc, char **argv) {
  int rounds = argc > 1 ? atoi(argv[1]) : 10;
  crc_init();
  uint32_t crc = 0, h[8] = { 0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19 };
  double fsum = 0;
  int primes = 0;
  for (int r = 0; r < rounds; r++) {
    memset(sieve, 1, sizeof sieve); sieve[0] = sieve[1] = 0;
    for (int i = 2; i * i < (int)sizeof sieve; i++) if (sieve[i]) for (int j = i * i; j < (int)sizeof sieve; j += i) sieve[j] = 0;
    primes = 0; for (int i = 0; i < (int)sizeof sieve; i++) primes += sieve[i];
    crc = crc32(sieve, sizeof sieve, crc);
    for (int i = 0; i < 2048; i++) sha256_block(h, sieve + i * 64);
    uint32_t s = r + 1; for (int i = 0; i < 20000; i++) { s = s * 1664525u + 1013904223u; arr[i] = s; }
    qsort(arr, 20000, sizeof arr[0], cmp);
    crc = crc32((uint8_t *)arr, sizeof arr, crc);
    static double m[24][24], x[24][24];
    for (int i = 0; i < 24; i++) for (int j = 0; j < 24; j++) m[i][j] = (i * 24 + j + r) * 0.25 / 24;
    for (int k = 0; k < 6; k++) {
      for (int i = 0; i < 24; i++) for (int j = 0; j < 24; j++) { double t = 0; for (int q = 0; q < 24; q++) t += m[i][q] * m[q][j]; x[i][j] = t * 0.01; }
      memcpy(m, x, sizeof m);
    }
    for (int i = 0; i < 24; i++) fsum += m[i][i];
  }
  char line[200];
  snprintf(line, sizeof line, "primes %d crc %08x sha %08x%08x fsum %.10e\n", primes, crc, h[0], h[7], fsum);
  if (argc > 2) { FILE *f = fopen(argv[2], "w"); if (!f) return 1; fputs(line, f); fclose(f); } else fputs(line, stdout);
  return 0;
}
