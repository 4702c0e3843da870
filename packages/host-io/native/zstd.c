// zstd for qcow2's compression_type=zstd, through the host's libzstd.so.1,
// opened with dlopen at the first call (no headers or -dev package needed at
// build time; without the library the calls report ZSTD_ENOSYS and qcow2 keeps
// saying zstd is not supported). The few declarations below are zstd's stable
// public API (zstd.h, v1.4+). Contexts are made once and reused: the calls
// run on the JS thread only.
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <node_api.h>
#include "napi-util.h"

/** ZSTD_d_windowLogMax (zstd.h's ZSTD_dParameter) and the largest window accepted: 2 MiB. */
#define ZSTD_D_WINDOW_LOG_MAX 100
#define WINDOW_LOG_MAX 21
/** ZSTD_reset_session_only (zstd.h's ZSTD_ResetDirective). */
#define ZSTD_RESET_SESSION_ONLY 1

typedef struct { const void *src; size_t size; size_t pos; } zstd_in;
typedef struct { void *dst; size_t size; size_t pos; } zstd_out;

static struct {
  int tried;
  void *(*create_cctx)(void);
  size_t (*compress_cctx)(void *cctx, void *dst, size_t cap, const void *src, size_t len, int level);
  void *(*create_dctx)(void);
  size_t (*dctx_reset)(void *dctx, int directive);
  size_t (*decompress_stream)(void *dctx, zstd_out *out, zstd_in *in);
  unsigned (*is_error)(size_t code);
  size_t (*dctx_set_parameter)(void *dctx, int param, int value);
  void *cctx;
  void *dctx;
} z;

/** Loads libzstd and makes the contexts; 1 when usable. */
static int zstd_ready(void) {
  if (z.tried) return z.cctx != NULL && z.dctx != NULL;
  z.tried = 1;
  // DEEPBIND: the library's own calls stay inside it even if the process exports
  // symbols of the same names (newer Node versions bundle zstd).
  void *lib = dlopen("libzstd.so.1", RTLD_NOW | RTLD_LOCAL | RTLD_DEEPBIND);
  if (lib == NULL) return 0;
  z.create_cctx = (void *(*)(void))dlsym(lib, "ZSTD_createCCtx");
  z.compress_cctx = (size_t (*)(void *, void *, size_t, const void *, size_t, int))dlsym(lib, "ZSTD_compressCCtx");
  z.create_dctx = (void *(*)(void))dlsym(lib, "ZSTD_createDCtx");
  z.dctx_reset = (size_t (*)(void *, int))dlsym(lib, "ZSTD_DCtx_reset");
  z.decompress_stream = (size_t (*)(void *, zstd_out *, zstd_in *))dlsym(lib, "ZSTD_decompressStream");
  z.is_error = (unsigned (*)(size_t))dlsym(lib, "ZSTD_isError");
  z.dctx_set_parameter = (size_t (*)(void *, int, int))dlsym(lib, "ZSTD_DCtx_setParameter");
  if (!z.create_cctx || !z.compress_cctx || !z.create_dctx || !z.dctx_reset || !z.decompress_stream || !z.is_error ||
      !z.dctx_set_parameter)
    return 0;
  z.cctx = z.create_cctx();
  z.dctx = z.create_dctx();
  if (z.cctx == NULL || z.dctx == NULL) return 0;
  // A hostile frame may ask for a window of up to 128 MiB (libzstd's default
  // limit); a qcow2 cluster is at most 2 MiB, so no honest frame needs more.
  if (z.is_error(z.dctx_set_parameter(z.dctx, ZSTD_D_WINDOW_LOG_MAX, WINDOW_LOG_MAX))) return 0;
  return 1;
}


// zstdAvailable() -> whether libzstd could be loaded.
napi_value host_zstd_available(napi_env env, napi_callback_info info) {
  napi_value r;
  napi_get_boolean(env, zstd_ready(), &r);
  return r;
}

// zstdCompress(src, dst, level) -> bytes written into dst as one zstd frame,
// -ENOSPC when the frame does not fit in dst, -ENOSYS without libzstd, -EINVAL
// for bad arguments or a zstd error.
napi_value host_zstd_compress(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  void *src, *dst;
  size_t src_len, dst_len;
  int32_t level;
  if (argc < 3 || !get_bytes(env, argv[0], &src, &src_len) || !get_bytes(env, argv[1], &dst, &dst_len) ||
      napi_get_value_int32(env, argv[2], &level) != napi_ok)
    return ret_i64(env, -EINVAL);
  if (!zstd_ready()) return ret_i64(env, -ENOSYS);
  size_t n = z.compress_cctx(z.cctx, dst, dst_len, src, src_len, level);
  // zstd's only error when the output buffer is too small is dstSize_tooSmall; any error here means "does not fit".
  if (z.is_error(n)) return ret_i64(env, -ENOSPC);
  return ret_i64(env, (int64_t)n);
}

// zstdDecompress(src, dst) -> bytes written into dst: zstd frames from src,
// one after another, until dst is full (what follows in src is ignored: a
// qcow2 compressed cluster ends on a sector boundary). Returns fewer bytes
// when src ends first, -EIO for damaged data, -ENOSYS without libzstd.
napi_value host_zstd_decompress(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  void *src, *dst;
  size_t src_len, dst_len;
  if (argc < 2 || !get_bytes(env, argv[0], &src, &src_len) || !get_bytes(env, argv[1], &dst, &dst_len)) return ret_i64(env, -EINVAL);
  if (!zstd_ready()) return ret_i64(env, -ENOSYS);
  // A new frame from the first byte; the parameters (the window limit) stay.
  if (z.is_error(z.dctx_reset(z.dctx, ZSTD_RESET_SESSION_ONLY))) return ret_i64(env, -EIO);
  zstd_in in = { src, src_len, 0 };
  zstd_out out = { dst, dst_len, 0 };
  while (out.pos < out.size) {
    size_t in_before = in.pos, out_before = out.pos;
    size_t r = z.decompress_stream(z.dctx, &out, &in);
    if (z.is_error(r)) return ret_i64(env, -EIO);
    // No progress: the input ran out (a truncated frame) and nothing is left buffered.
    if (in.pos == in_before && out.pos == out_before) break;
  }
  return ret_i64(env, (int64_t)out.pos);
}
