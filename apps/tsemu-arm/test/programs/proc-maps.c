// /proc/self/maps, which qemu-arm answers itself. Where an emulator places
// mmap'd regions and the stack is its own choice (and with it which
// anonymous regions border and merge), so those lines are printed by what
// they hold (protection, offset, name; the size where it is the program's:
// a file mapping, the stack); the program's own segments and the
// user-helper page are printed as they are (addresses, protection, file
// offset, device, inode, padding).
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/wait.h>

static char maps[16384];

static int read_maps(char *buf, int size) {
  int m = open("/proc/self/maps", O_RDONLY), n = 0, r;
  while ((r = read(m, buf + n, size - 1 - n)) > 0) n += r;
  close(m);
  buf[n] = 0;
  return n;
}

static void print_holding(const char *what, unsigned long addr, int size) {
  for (char *l = maps; *l; l = strchr(l, '\n') + 1) {
    unsigned long start, end, off;
    char perms[8];
    if (sscanf(l, "%lx-%lx %7s %lx", &start, &end, perms, &off) != 4) break;
    if (start <= addr && addr < end) {
      const char *name = strlen(l) > 73 ? l + 73 : "\n";
      printf("%s: %s, ", what, perms);
      if (size) printf("%lu pages, ", (end - start) / 4096);
      printf("offset %lx, name %.*s\n", off, (int)strcspn(name, "\n"), name);
      return;
    }
  }
  printf("%s: no line holds %lx\n", what, addr);
}

int main(void) {
  int fd = open("/proc/self/exe", O_RDONLY);
  char *file = mmap(0, 2 * 4096, PROT_READ, MAP_PRIVATE, fd, 4096);
  char *anon = mmap(0, 4 * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  mprotect(anon + 4096, 4096, PROT_NONE);
  char *grown = mremap(anon + 3 * 4096, 4096, 8 * 4096, MREMAP_MAYMOVE);
  void *heap = malloc(100);
  int local = 0;
  read_maps(maps, sizeof maps);
  // The program's own lines and the heap right after them, then the last line (the kuser page).
  char exe[256] = {0};
  readlink("/proc/self/exe", exe, sizeof exe - 1);
  char *l = maps, *last = maps;
  for (; *l; l = strchr(l, '\n') + 1) {
    unsigned long start = strtoul(l, 0, 16);
    if (start != (unsigned long)file && strstr(l, exe) && strstr(l, exe) < strchr(l, '\n')) fwrite(l, 1, strchr(l, '\n') - l + 1, stdout);
    last = l;
  }
  fputs(last, stdout);
  print_holding("heap", (unsigned long)heap, 0);
  print_holding("file mapping", (unsigned long)file, 1);
  print_holding("anonymous page", (unsigned long)anon, 0);
  print_holding("protected page", (unsigned long)anon + 4096, 0);
  print_holding("moved by mremap", (unsigned long)grown, 0);
  print_holding("stack", (unsigned long)&local, 1);
  // A forked child has the same mappings.
  fflush(stdout);
  if (fork() == 0) {
    static char again[16384];
    read_maps(again, sizeof again);
    printf("child: same maps: %s\n", strcmp(again, maps) == 0 ? "yes" : "no");
    fflush(stdout);
    _exit(0);
  }
  wait(0);
  return file != MAP_FAILED && anon != MAP_FAILED && grown != MAP_FAILED ? 0 : 1;
}
