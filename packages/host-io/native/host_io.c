// The few Linux file calls Node.js lacks: lseek(SEEK_DATA/SEEK_HOLE) for
// allocation maps, fallocate(2) for hole punching, zeroing and preallocation,
// and preadv2/pwritev2 with RWF_NOWAIT (page-cache hits without the libuv
// thread pool). Plain Node-API (C), no dependencies. Calls are synchronous:
// each is a single quick syscall on a local file. mapRead/unmap give
// read-only views of a file's page cache (qemu-img convert's copy without a
// read copy). ofdLock/ofdTest: QEMU's image locking (fcntl OFD locks).
// zstd*: qcow2's zstd compression through the host's libzstd (zstd.c);
// deflateRawAsync: its zlib compression through the host's libz (zlib.c).
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>
#include <node_api.h>
#include "napi-util.h"

static napi_value throw_errno(napi_env env, int err, const char *syscall) {
  const char *code = NULL;
  switch (err) {
    case EOPNOTSUPP: code = "ENOTSUP"; break;
    case EINVAL: code = "EINVAL"; break;
    case ENOSPC: code = "ENOSPC"; break;
    case EBADF: code = "EBADF"; break;
    case ENXIO: code = "ENXIO"; break;
    case EFBIG: code = "EFBIG"; break;
    case EIO: code = "EIO"; break;
    case EPERM: code = "EPERM"; break;
    case ENOSYS: code = "ENOSYS"; break;
    default: code = "EIO"; break;
  }
  char message[160];
  snprintf(message, sizeof message, "%s: %s", syscall, strerror(err));
  napi_throw_error(env, code, message);
  return NULL;
}

static int get_i64(napi_env env, napi_value v, int64_t *out) {
  double d;
  if (napi_get_value_double(env, v, &d) != napi_ok) return 0;
  *out = (int64_t)d;
  return 1;
}

// seek(fd, offset, whence) -> offset, or -1 when there is no more data (ENXIO).
static napi_value host_seek(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  int64_t fd, offset, which;
  if (argc < 3 || !get_i64(env, argv[0], &fd) || !get_i64(env, argv[1], &offset) || !get_i64(env, argv[2], &which)) {
    napi_throw_type_error(env, NULL, "seek(fd, offset, whence)");
    return NULL;
  }
  off_t r = lseek((int)fd, (off_t)offset, which == 0 ? SEEK_DATA : SEEK_HOLE);
  napi_value result;
  if (r < 0) {
    if (errno != ENXIO) return throw_errno(env, errno, "lseek");
    napi_create_double(env, -1, &result);
  } else {
    napi_create_double(env, (double)r, &result);
  }
  return result;
}

// fallocate(fd, mode, offset, length): mode bits as in <linux/falloc.h>.
static napi_value host_fallocate(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  int64_t fd, mode, offset, length;
  if (argc < 4 || !get_i64(env, argv[0], &fd) || !get_i64(env, argv[1], &mode) || !get_i64(env, argv[2], &offset) ||
      !get_i64(env, argv[3], &length)) {
    napi_throw_type_error(env, NULL, "fallocate(fd, mode, offset, length)");
    return NULL;
  }
  int r;
  do {
    r = fallocate((int)fd, (int)mode, (off_t)offset, (off_t)length);
  } while (r < 0 && errno == EINTR);
  if (r < 0) return throw_errno(env, errno, "fallocate");
  return NULL;
}

// --- RWF_NOWAIT I/O -------------------------------------------------------
// These return a number instead of throwing: bytes transferred, or -errno
// (-EAGAIN: the data is not in the page cache / the write would block;
// -EOPNOTSUPP: the file system does not honour RWF_NOWAIT). A miss is the
// common, expected outcome for cold data, and an exception per miss would cost
// more than the syscall. Bad arguments are -EINVAL, never a throw.
#define NOWAIT_IOV_MAX 64


static ssize_t rw_nowait(int write, int fd, const struct iovec *iov, int n, int64_t offset) {
#ifdef RWF_NOWAIT
  ssize_t r;
  do {
    r = write ? pwritev2(fd, iov, n, (off_t)offset, RWF_NOWAIT) : preadv2(fd, iov, n, (off_t)offset, RWF_NOWAIT);
  } while (r < 0 && errno == EINTR);
  return r < 0 ? -errno : r;
#else
  (void)write; (void)fd; (void)iov; (void)n; (void)offset;
  return -ENOSYS;
#endif
}

// pread/pwriteNowait(fd, buf, offset[, length]): one buffer; length defaults to buf.length.
static napi_value single_nowait(napi_env env, napi_callback_info info, int write) {
  size_t argc = 4;
  napi_value argv[4];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  int64_t fd, offset, length;
  struct iovec iov;
  if (argc < 3 || !get_i64(env, argv[0], &fd) || !get_bytes(env, argv[1], &iov.iov_base, &iov.iov_len) ||
      !get_i64(env, argv[2], &offset) || offset < 0)
    return ret_i64(env, -EINVAL);
  if (argc >= 4) {
    napi_valuetype t;
    napi_typeof(env, argv[3], &t);
    if (t != napi_undefined) {
      if (!get_i64(env, argv[3], &length) || length < 0 || (uint64_t)length > iov.iov_len) return ret_i64(env, -EINVAL);
      iov.iov_len = (size_t)length;
    }
  }
  return ret_i64(env, rw_nowait(write, (int)fd, &iov, 1, offset));
}

// preadv/pwritevNowait(fd, bufs, offset): up to NOWAIT_IOV_MAX buffers, each used whole.
static napi_value vector_nowait(napi_env env, napi_callback_info info, int write) {
  size_t argc = 3;
  napi_value argv[3];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  int64_t fd, offset;
  uint32_t n;
  bool is_array = false;
  if (argc < 3 || !get_i64(env, argv[0], &fd) || !get_i64(env, argv[2], &offset) || offset < 0 ||
      napi_is_array(env, argv[1], &is_array) != napi_ok || !is_array || napi_get_array_length(env, argv[1], &n) != napi_ok ||
      n == 0 || n > NOWAIT_IOV_MAX)
    return ret_i64(env, -EINVAL);
  struct iovec iov[NOWAIT_IOV_MAX];
  for (uint32_t i = 0; i < n; i++) {
    napi_value el;
    if (napi_get_element(env, argv[1], i, &el) != napi_ok || !get_bytes(env, el, &iov[i].iov_base, &iov[i].iov_len))
      return ret_i64(env, -EINVAL);
  }
  return ret_i64(env, rw_nowait(write, (int)fd, iov, (int)n, offset));
}

static napi_value host_pread_nowait(napi_env env, napi_callback_info info) { return single_nowait(env, info, 0); }
static napi_value host_pwrite_nowait(napi_env env, napi_callback_info info) { return single_nowait(env, info, 1); }
static napi_value host_preadv_nowait(napi_env env, napi_callback_info info) { return vector_nowait(env, info, 0); }
static napi_value host_pwritev_nowait(napi_env env, napi_callback_info info) { return vector_nowait(env, info, 1); }

// posix_fadvise(fd, offset, length, advice) -> 0 or -errno (tests drop cached pages with DONTNEED).
static napi_value host_fadvise(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  int64_t fd, offset, length, advice;
  if (argc < 4 || !get_i64(env, argv[0], &fd) || !get_i64(env, argv[1], &offset) || !get_i64(env, argv[2], &length) ||
      !get_i64(env, argv[3], &advice))
    return ret_i64(env, -EINVAL);
  // posix_fadvise returns the error number instead of setting errno.
  return ret_i64(env, -posix_fadvise((int)fd, (off_t)offset, (off_t)length, (int)advice));
}

// --- Read-only mappings ---------------------------------------------------
// mapRead(fd, offset, length, residentOnly) -> ArrayBuffer over
// mmap(PROT_READ, MAP_SHARED) of [offset, offset+length), or -errno.
// offset must be a multiple of the page size. The range must lie within the
// file's size as fstat reports it now (else -ERANGE): touching a page past
// EOF raises SIGBUS, so callers must only map files nobody shrinks meanwhile.
// residentOnly: -EAGAIN unless every page is in the page cache (cachestat or
// mincore), so touching the mapping never waits for the disk on the JS thread.
// Pages are left to be faulted in (a fault maps whole large folios, ~5 faults
// per 2 MiB here): MAP_POPULATE and MADV_POPULATE_READ measured ~3x slower.
// unmap(ab) unmaps at once and detaches the ArrayBuffer (its views read as
// empty, never as freed memory); a mapping never unmapped is unmapped when the
// ArrayBuffer is collected. Live mappings are kept in a small table so that
// unmap and the finalizer never unmap the same address twice.
#define MAP_TABLE_SIZE 256

typedef struct { void *addr; size_t len; } mapping;
static mapping *map_table[MAP_TABLE_SIZE];

static void map_finalize(napi_env env, void *data, void *hint) {
  (void)env; (void)data;
  mapping *m = hint;
  for (int i = 0; i < MAP_TABLE_SIZE; i++) {
    if (map_table[i] == m) {
      map_table[i] = NULL;
      munmap(m->addr, m->len);
      break;
    }
  }
  free(m);
}

#ifndef __NR_cachestat
#define __NR_cachestat 451
#endif
struct cachestat_range { uint64_t off, len; };
struct cachestat_result { uint64_t nr_cache, nr_dirty, nr_writeback, nr_evicted, nr_recently_evicted; };

// Every page of the range is in the page cache: cachestat(2) (Linux 6.5+, one
// walk of the cache), else mincore(2) on the fresh mapping.
static int all_cached(int fd, void *addr, int64_t offset, int64_t length) {
  long page = sysconf(_SC_PAGESIZE);
  size_t pages = ((size_t)length + page - 1) / page;
  struct cachestat_range range = { (uint64_t)offset, (uint64_t)length };
  struct cachestat_result cs;
  if (syscall(__NR_cachestat, fd, &range, &cs, 0) == 0) return cs.nr_cache >= pages;
  unsigned char small[1024];
  unsigned char *vec = pages <= sizeof small ? small : malloc(pages);
  int ok = vec != NULL && mincore(addr, (size_t)length, vec) == 0;
  for (size_t i = 0; ok && i < pages; i++) ok = vec[i] & 1;
  if (vec != small) free(vec);
  return ok;
}

static napi_value host_map_read(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  int64_t fd, offset, length;
  bool resident = false;
  if (argc < 4 || !get_i64(env, argv[0], &fd) || !get_i64(env, argv[1], &offset) || !get_i64(env, argv[2], &length) ||
      napi_get_value_bool(env, argv[3], &resident) != napi_ok || offset < 0 || length <= 0 ||
      offset % sysconf(_SC_PAGESIZE) != 0)
    return ret_i64(env, -EINVAL);
  struct stat st;
  if (fstat((int)fd, &st) < 0) return ret_i64(env, -errno);
  if (!S_ISREG(st.st_mode)) return ret_i64(env, -ENODEV);
  if (offset + length > st.st_size) return ret_i64(env, -ERANGE);
  int slot = -1;
  for (int i = 0; i < MAP_TABLE_SIZE && slot < 0; i++) if (map_table[i] == NULL) slot = i;
  if (slot < 0) return ret_i64(env, -ENOMEM);
  void *addr = mmap(NULL, (size_t)length, PROT_READ, MAP_SHARED, (int)fd, (off_t)offset);
  if (addr == MAP_FAILED) return ret_i64(env, -errno);
  if (resident && !all_cached((int)fd, addr, offset, length)) {
    munmap(addr, (size_t)length);
    return ret_i64(env, -EAGAIN);
  }
  mapping *m = malloc(sizeof *m);
  napi_value result;
  if (m == NULL) {
    munmap(addr, (size_t)length);
    return ret_i64(env, -ENOMEM);
  }
  m->addr = addr;
  m->len = (size_t)length;
  if (napi_create_external_arraybuffer(env, addr, (size_t)length, map_finalize, m, &result) != napi_ok) {
    munmap(addr, (size_t)length);
    free(m);
    return ret_i64(env, -ENOMEM);
  }
  map_table[slot] = m;
  return result;
}

// unmap(ab): 0, or -EINVAL when ab is not a live mapping.
static napi_value host_unmap(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  void *data = NULL;
  size_t len = 0;
  bool is_ab = false;
  if (argc < 1 || napi_is_arraybuffer(env, argv[0], &is_ab) != napi_ok || !is_ab ||
      napi_get_arraybuffer_info(env, argv[0], &data, &len) != napi_ok || data == NULL)
    return ret_i64(env, -EINVAL);
  for (int i = 0; i < MAP_TABLE_SIZE; i++) {
    mapping *m = map_table[i];
    if (m != NULL && m->addr == data && m->len == len) {
      // Out of the table before detaching (should the finalizer run at once, it
      // then only frees m), and detached before unmapping: no view can reach
      // the memory once it is gone.
      map_table[i] = NULL;
      if (napi_detach_arraybuffer(env, argv[0]) != napi_ok) {
        map_table[i] = m;
        return ret_i64(env, -EINVAL);
      }
      munmap(data, len);
      return ret_i64(env, 0);
    }
  }
  return ret_i64(env, -EINVAL);
}

// --- Zero detection ---------------------------------------------------------
// zeroRuns(buf, length, phase, align, runs) -> number of runs, or -EINVAL.
// Cuts buf[0, length) into blocks that end on multiples of `align` counted
// from `phase` bytes before buf's start (the first and last blocks may be
// partial) and stores the maximal runs of all-zero blocks in `runs` (an
// Int32Array) as start/end pairs. One call per chunk instead of a JS loop over
// its blocks with a compare per block (qemu-img convert -S).
static const unsigned char zero_page[4096];

static int block_is_zero(const unsigned char *p, size_t n) {
  // Most data blocks fail on their first bytes; glibc's memcmp against a zero
  // page beat a plain OR loop (~20 vs ~30 ms per GiB here) for the rest.
  for (size_t i = 0; i < n && i < 16; i++) if (p[i]) return 0;
  for (size_t i = 0; i < n; i += sizeof zero_page) {
    size_t k = n - i < sizeof zero_page ? n - i : sizeof zero_page;
    if (memcmp(p + i, zero_page, k) != 0) return 0;
  }
  return 1;
}

static napi_value host_zero_runs(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  void *data;
  size_t len;
  int64_t length, phase, align;
  napi_typedarray_type type;
  size_t count;
  void *out;
  napi_value ab;
  size_t off;
  if (argc < 5 || !get_bytes(env, argv[0], &data, &len) || !get_i64(env, argv[1], &length) || !get_i64(env, argv[2], &phase) ||
      !get_i64(env, argv[3], &align) || napi_get_typedarray_info(env, argv[4], &type, &count, &out, &ab, &off) != napi_ok ||
      type != napi_int32_array || length < 0 || (uint64_t)length > len || align <= 0 || phase < 0 || phase >= align)
    return ret_i64(env, -EINVAL);
  const unsigned char *p = data;
  int32_t *runs = out;
  size_t n = 0;
  int64_t run = -1;
  for (int64_t pos = 0; pos < length;) {
    int64_t end = ((phase + pos) / align + 1) * align - phase;
    if (end > length) end = length;
    if (block_is_zero(p + pos, (size_t)(end - pos))) {
      if (run < 0) run = pos;
    } else if (run >= 0) {
      if (n + 2 > count) return ret_i64(env, -EINVAL);
      runs[n++] = (int32_t)run;
      runs[n++] = (int32_t)pos;
      run = -1;
    }
    pos = end;
  }
  if (run >= 0) {
    if (n + 2 > count) return ret_i64(env, -EINVAL);
    runs[n++] = (int32_t)run;
    runs[n++] = (int32_t)length;
  }
  return ret_i64(env, (int64_t)(n / 2));
}

// --- Open file description locks (QEMU's image locking) ------------------
// ofdLock(fd, start, length, type) -> 0 or -errno: type 0 releases, 1 takes a
// shared (read) lock, 2 an exclusive one, over [start, start+length). Never
// waits (F_OFD_SETLK). OFD locks belong to the open file description, so two
// opens of one image in the same process see each other, as QEMU's do.
static napi_value host_ofd_lock(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  int64_t fd, start, length, type;
  if (argc < 4 || !get_i64(env, argv[0], &fd) || !get_i64(env, argv[1], &start) || !get_i64(env, argv[2], &length) ||
      !get_i64(env, argv[3], &type) || type < 0 || type > 2)
    return ret_i64(env, -EINVAL);
  struct flock fl;
  memset(&fl, 0, sizeof fl);
  fl.l_type = type == 0 ? F_UNLCK : type == 1 ? F_RDLCK : F_WRLCK;
  fl.l_whence = SEEK_SET;
  fl.l_start = (off_t)start;
  fl.l_len = (off_t)length;
  return ret_i64(env, fcntl((int)fd, F_OFD_SETLK, &fl) == 0 ? 0 : -errno);
}

// ofdTest(fd, start, length) -> 1 when another open file description holds a
// lock that an exclusive lock on the range would conflict with, 0 when none
// does, or -errno (-EINVAL where the kernel has no OFD locks).
static napi_value host_ofd_test(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  int64_t fd, start, length;
  if (argc < 3 || !get_i64(env, argv[0], &fd) || !get_i64(env, argv[1], &start) || !get_i64(env, argv[2], &length))
    return ret_i64(env, -EINVAL);
  struct flock fl;
  memset(&fl, 0, sizeof fl);
  fl.l_type = F_WRLCK;
  fl.l_whence = SEEK_SET;
  fl.l_start = (off_t)start;
  fl.l_len = (off_t)length;
  if (fcntl((int)fd, F_OFD_GETLK, &fl) != 0) return ret_i64(env, -errno);
  return ret_i64(env, fl.l_type == F_UNLCK ? 0 : 1);
}

// zstd.c: qcow2's zstd compression through the host's libzstd.
napi_value host_zstd_available(napi_env env, napi_callback_info info);
napi_value host_zstd_compress(napi_env env, napi_callback_info info);
napi_value host_zstd_decompress(napi_env env, napi_callback_info info);
// zlib.c: qcow2's zlib compression through the host's libz (qemu-img's bytes).
napi_value host_zlib_available(napi_env env, napi_callback_info info);
napi_value host_deflate_raw_async(napi_env env, napi_callback_info info);

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
    { "seek", NULL, host_seek, NULL, NULL, NULL, napi_enumerable, NULL },
    { "fallocate", NULL, host_fallocate, NULL, NULL, NULL, napi_enumerable, NULL },
    { "preadNowait", NULL, host_pread_nowait, NULL, NULL, NULL, napi_enumerable, NULL },
    { "pwriteNowait", NULL, host_pwrite_nowait, NULL, NULL, NULL, napi_enumerable, NULL },
    { "preadvNowait", NULL, host_preadv_nowait, NULL, NULL, NULL, napi_enumerable, NULL },
    { "pwritevNowait", NULL, host_pwritev_nowait, NULL, NULL, NULL, napi_enumerable, NULL },
    { "fadvise", NULL, host_fadvise, NULL, NULL, NULL, napi_enumerable, NULL },
    { "mapRead", NULL, host_map_read, NULL, NULL, NULL, napi_enumerable, NULL },
    { "unmap", NULL, host_unmap, NULL, NULL, NULL, napi_enumerable, NULL },
    { "zeroRuns", NULL, host_zero_runs, NULL, NULL, NULL, napi_enumerable, NULL },
    { "ofdLock", NULL, host_ofd_lock, NULL, NULL, NULL, napi_enumerable, NULL },
    { "ofdTest", NULL, host_ofd_test, NULL, NULL, NULL, napi_enumerable, NULL },
    { "zstdAvailable", NULL, host_zstd_available, NULL, NULL, NULL, napi_enumerable, NULL },
    { "zstdCompress", NULL, host_zstd_compress, NULL, NULL, NULL, napi_enumerable, NULL },
    { "zstdDecompress", NULL, host_zstd_decompress, NULL, NULL, NULL, napi_enumerable, NULL },
    { "zlibAvailable", NULL, host_zlib_available, NULL, NULL, NULL, napi_enumerable, NULL },
    { "deflateRawAsync", NULL, host_deflate_raw_async, NULL, NULL, NULL, napi_enumerable, NULL },
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  napi_value page;
  napi_create_int64(env, sysconf(_SC_PAGESIZE), &page);
  napi_set_named_property(env, exports, "pageSize", page);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
