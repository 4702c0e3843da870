/* Self-modifying code: write ARM instructions into a buffer, run them, patch, flush, run again. */
#include <stdio.h>
#include <stdint.h>
#include <sys/mman.h>
typedef int (*fn_t)(void);
int main(void) {
  uint32_t *code = mmap(0, 4096, PROT_READ | PROT_WRITE | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (code == MAP_FAILED) return 1;
  int total = 0;
  for (int i = 0; i < 5; i++) {
    code[0] = 0xe3a00000u | (i * 7 + 1); /* mov r0, #imm */
    code[1] = 0xe12fff1eu;               /* bx lr */
    __builtin___clear_cache((char *)code, (char *)(code + 2));
    int v = ((fn_t)code)();
    printf("call %d -> %d\n", i, v);
    total += v;
  }
  printf("total %d\n", total);
  return 0;
}
