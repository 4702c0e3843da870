/* stdio and POSIX file I/O in the current directory: write, seek, read back, stat, list, remove. */
#define _FILE_OFFSET_BITS 64 /* readdir64: 32-bit readdir fails with EOVERFLOW on 64-bit d_off under qemu */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>
#include <sys/stat.h>
static int cmp(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }
int main(void) {
  mkdir("tsemu-io-dir", 0755);
  FILE *f = fopen("tsemu-io-dir/a.txt", "w+");
  if (!f) { perror("fopen"); return 1; }
  for (int i = 0; i < 1000; i++) fprintf(f, "line %d %x\n", i, i * 2654435761u);
  printf("ftell %ld\n", ftell(f));
  fseek(f, 100, SEEK_SET);
  char buf[64]; fgets(buf, sizeof buf, f); printf("at 100: %s", buf);
  fseek(f, -20, SEEK_END); fgets(buf, sizeof buf, f); printf("near end: %s", buf);
  fclose(f);
  int fd = open("tsemu-io-dir/b.bin", O_CREAT | O_TRUNC | O_RDWR, 0644);
  unsigned char data[5000]; for (int i = 0; i < 5000; i++) data[i] = (unsigned char)(i * 7);
  printf("write %zd\n", write(fd, data, sizeof data));
  printf("lseek %ld\n", (long)lseek(fd, 1234, SEEK_SET));
  unsigned char back[10]; printf("read %zd %d %d\n", read(fd, back, 10), back[0], back[9]);
  int fd2 = dup(fd); lseek(fd2, 0, SEEK_SET); printf("shared offset %ld\n", (long)lseek(fd, 0, SEEK_CUR));
  close(fd); close(fd2);
  struct stat st; stat("tsemu-io-dir/b.bin", &st); printf("size %lld mode %o\n", (long long)st.st_size, st.st_mode & 0777);
  printf("missing: %d\n", access("tsemu-io-dir/nope", F_OK));
  DIR *d = opendir("tsemu-io-dir"); struct dirent *e; char *names[10]; int n = 0;
  while ((e = readdir(d)) && n < 10) names[n++] = strdup(e->d_name);
  closedir(d); qsort(names, n, sizeof names[0], cmp);
  for (int i = 0; i < n; i++) printf("entry %s\n", names[i]);
  unlink("tsemu-io-dir/a.txt"); unlink("tsemu-io-dir/b.bin"); printf("rmdir %d\n", rmdir("tsemu-io-dir"));
  char cwd[4096]; printf("cwd ok %d\n", getcwd(cwd, sizeof cwd) != NULL);
  return 0;
}
