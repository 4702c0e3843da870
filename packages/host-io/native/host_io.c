// The few Linux file calls Node.js lacks: lseek(SEEK_DATA/SEEK_HOLE) for
// allocation maps, fallocate(2) for hole punching, zeroing and preallocation,
// and preadv2/pwritev2 with RWF_NOWAIT (page-cache hits without the libuv
// thread pool). Plain Node-API (C), no dependencies. Calls are synchronous:
// each is a single quick syscall on a local file.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>
#include <node_api.h>

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

static napi_value ret_i64(napi_env env, int64_t v) {
  napi_value result;
  napi_create_int64(env, v, &result);
  return result;
}

// A Uint8Array (or Buffer) -> base pointer and byte length.
static int get_bytes(napi_env env, napi_value v, void **data, size_t *len) {
  napi_typedarray_type type;
  size_t count, offset;
  napi_value ab;
  if (napi_get_typedarray_info(env, v, &type, &count, data, &ab, &offset) != napi_ok) return 0;
  if (type != napi_uint8_array && type != napi_uint8_clamped_array && type != napi_int8_array) return 0;
  *len = count;
  return 1;
}

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

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
    { "seek", NULL, host_seek, NULL, NULL, NULL, napi_enumerable, NULL },
    { "fallocate", NULL, host_fallocate, NULL, NULL, NULL, napi_enumerable, NULL },
    { "preadNowait", NULL, host_pread_nowait, NULL, NULL, NULL, napi_enumerable, NULL },
    { "pwriteNowait", NULL, host_pwrite_nowait, NULL, NULL, NULL, napi_enumerable, NULL },
    { "preadvNowait", NULL, host_preadv_nowait, NULL, NULL, NULL, napi_enumerable, NULL },
    { "pwritevNowait", NULL, host_pwritev_nowait, NULL, NULL, NULL, napi_enumerable, NULL },
    { "fadvise", NULL, host_fadvise, NULL, NULL, NULL, napi_enumerable, NULL },
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
