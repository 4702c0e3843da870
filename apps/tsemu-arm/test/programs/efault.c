/* Bad guest pointers in system calls: EFAULT, as the kernel and qemu-arm answer. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

static void show(const char *what, long r) {
  printf("%-28s %ld %s\n", what, r, r < 0 ? strerror(errno) : "");
}

int main(void) {
  void *unmapped = (void *)0x1000;
  /* One mapping, then a layout that does not depend on where mmap puts things:
   * page 0 read-write, page 1 read-only, page 2 read-write, page 3 unmapped, pages 4-5 PROT_NONE. */
  char *rw = mmap(0, 6 * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  char *ro = rw + 4096, *hole = rw + 3 * 4096, *none = rw + 4 * 4096;
  if (rw == MAP_FAILED || mprotect(ro, 4096, PROT_READ) != 0 || munmap(hole, 4096) != 0 || mprotect(none, 8192, PROT_NONE) != 0) return 1;
  int fds[2];
  if (pipe(fds) != 0) return 1;
  show("write unmapped", syscall(SYS_write, 1, unmapped, 10));
  show("write PROT_NONE", syscall(SYS_write, 1, none, 10));
  show("write across rw/ro pages", syscall(SYS_write, fds[1], rw + 4000, 200));
  show("write running into a hole", syscall(SYS_write, fds[1], hole - 96, 200));
  show("write 0 bytes from NULL", syscall(SYS_write, fds[1], 0, 0));
  show("read into read-only", syscall(SYS_read, fds[0], ro, 4));
  show("read into unmapped", syscall(SYS_read, fds[0], unmapped, 4));
  show("read 0 bytes into NULL", syscall(SYS_read, fds[0], 0, 0));
  show("openat unmapped path", syscall(SYS_openat, AT_FDCWD, unmapped, O_RDONLY));
  memset(hole - 3, 'a', 3); /* a path running into the unmapped page */
  show("openat unterminated path", syscall(SYS_openat, AT_FDCWD, hole - 3, O_RDONLY));
  show("fstat64 into read-only", syscall(SYS_fstat64, 1, ro));
  show("stat64 NULL buffer", syscall(SYS_stat64, "/", 0));
  show("clock_gettime unmapped", syscall(SYS_clock_gettime, CLOCK_REALTIME, unmapped));
  show("gettimeofday NULL, NULL", syscall(SYS_gettimeofday, 0, 0));
  show("uname into PROT_NONE", syscall(SYS_uname, none));
  show("getcwd into read-only", syscall(SYS_getcwd, ro, 64));
  show("pipe2 into read-only", syscall(SYS_pipe2, ro, 0));
  memcpy(rw, "iov", 4);
  struct iovec iov[3] = { { rw, 3 }, { unmapped, 4 }, { rw, 3 } };
  show("writev bad first buffer", syscall(SYS_writev, fds[1], iov + 1, 2));
  show("writev bad second buffer", syscall(SYS_writev, fds[1], iov, 3));
  show("writev bad iovec array", syscall(SYS_writev, fds[1], unmapped, 2));
  show("rt_sigaction bad act", syscall(SYS_rt_sigaction, SIGUSR1, unmapped, 0, 8));
  show("rt_sigprocmask NULL sets", syscall(SYS_rt_sigprocmask, SIG_BLOCK, 0, 0, 8));
  show("getrandom into read-only", syscall(SYS_getrandom, ro, 16, 0));
  show("write still works", syscall(SYS_write, fds[1], "ok", 2));
  char buf[256] = { 0 };
  show("drain", syscall(SYS_read, fds[0], buf, 200)); /* the 200 bytes written across rw/ro */
  show("read back", syscall(SYS_read, fds[0], buf, 6));
  printf("read back: %s\n", buf);
  return 0;
}
