// The few Linux file calls Node.js lacks: lseek(SEEK_DATA/SEEK_HOLE) for
// allocation maps and fallocate(2) for hole punching, zeroing and
// preallocation. Plain Node-API (C), no dependencies. Calls are synchronous:
// each is a single quick syscall on a local file.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
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

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
    { "seek", NULL, host_seek, NULL, NULL, NULL, napi_enumerable, NULL },
    { "fallocate", NULL, host_fallocate, NULL, NULL, NULL, napi_enumerable, NULL },
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
