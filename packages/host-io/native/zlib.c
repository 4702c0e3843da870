// Raw deflate through the host's libz.so.1 (the zlib qemu-img links), so a
// compressed qcow2 cluster gets the very bytes qemu-img writes: Node's bundled
// zlib (Chromium's) makes other, equally valid, bytes for some data. Opened
// with dlopen at the first call; z_stream and the two entry points are zlib's
// stable ABI (zlib.h). deflateAsync runs on libuv's thread pool, one stream
// per call, so the clusters of a request compress in parallel.
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <node_api.h>
#include "napi-util.h"

typedef struct {
  const unsigned char *next_in;
  unsigned avail_in;
  unsigned long total_in;
  unsigned char *next_out;
  unsigned avail_out;
  unsigned long total_out;
  const char *msg;
  void *state;
  void *zalloc;
  void *zfree;
  void *opaque;
  int data_type;
  unsigned long adler;
  unsigned long reserved;
} zlib_stream;

#define Z_OK 0
#define Z_STREAM_END 1
#define Z_FINISH 4
#define Z_DEFLATED 8
#define Z_DEFAULT_STRATEGY 0

static struct {
  int (*init2)(zlib_stream *s, int level, int method, int window_bits, int mem_level, int strategy, const char *version, int size);
  int (*deflate)(zlib_stream *s, int flush);
  int (*end)(zlib_stream *s);
  const char *(*version)(void);
  int ok;
} zl;
static pthread_once_t zl_once = PTHREAD_ONCE_INIT;

static void zl_load(void) {
  // DEEPBIND: node exports its own (Chromium) zlib symbols, which would otherwise
  // stand in for libz's internal calls (deflateInit2_ calling node's deflateReset).
  void *lib = dlopen("libz.so.1", RTLD_NOW | RTLD_LOCAL | RTLD_DEEPBIND);
  if (lib == NULL) return;
  zl.init2 = (int (*)(zlib_stream *, int, int, int, int, int, const char *, int))dlsym(lib, "deflateInit2_");
  zl.deflate = (int (*)(zlib_stream *, int))dlsym(lib, "deflate");
  zl.end = (int (*)(zlib_stream *))dlsym(lib, "deflateEnd");
  zl.version = (const char *(*)(void))dlsym(lib, "zlibVersion");
  zl.ok = zl.init2 && zl.deflate && zl.end && zl.version;
}

static int zl_ready(void) {
  pthread_once(&zl_once, zl_load);
  return zl.ok;
}

/** Raw deflate of src into dst: the compressed length, -ENOSPC when it does not fit, -EIO on a zlib error. */
static int64_t deflate_raw(const void *src, size_t src_len, void *dst, size_t dst_len, int level, int window_bits, int mem_level) {
  zlib_stream s;
  memset(&s, 0, sizeof s);
  if (zl.init2(&s, level, Z_DEFLATED, -window_bits, mem_level, Z_DEFAULT_STRATEGY, zl.version(), (int)sizeof s) != Z_OK) return -EIO;
  s.next_in = src;
  s.avail_in = (unsigned)src_len;
  s.next_out = dst;
  s.avail_out = (unsigned)dst_len;
  int r = zl.deflate(&s, Z_FINISH);
  int64_t n = r == Z_STREAM_END ? (int64_t)(dst_len - s.avail_out) : r == Z_OK ? -ENOSPC : -EIO;
  zl.end(&s);
  return n;
}

typedef struct {
  napi_async_work work;
  napi_deferred deferred;
  napi_ref src_ref, dst_ref;
  const void *src;
  size_t src_len;
  void *dst;
  size_t dst_len;
  int level, window_bits, mem_level;
  int64_t result;
} deflate_job;

static void job_execute(napi_env env, void *data) {
  deflate_job *j = data;
  j->result = deflate_raw(j->src, j->src_len, j->dst, j->dst_len, j->level, j->window_bits, j->mem_level);
}

static void job_complete(napi_env env, napi_status status, void *data) {
  deflate_job *j = data;
  napi_value v;
  napi_create_int64(env, status == napi_ok ? j->result : -ECANCELED, &v);
  napi_resolve_deferred(env, j->deferred, v);
  napi_delete_reference(env, j->src_ref);
  napi_delete_reference(env, j->dst_ref);
  napi_delete_async_work(env, j->work);
  free(j);
}


// zlibAvailable() -> whether libz.so.1 could be loaded.
napi_value host_zlib_available(napi_env env, napi_callback_info info) {
  napi_value r;
  napi_get_boolean(env, zl_ready(), &r);
  return r;
}

// deflateRawAsync(src, dst, level, windowBits, memLevel) -> Promise of the
// compressed length in dst, -ENOSPC when it does not fit, -EIO for a zlib
// error, -EINVAL for bad arguments, -ENOSYS without libz. src and dst must not
// change until it settles.
napi_value host_deflate_raw_async(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  napi_value promise;
  napi_deferred deferred;
  napi_create_promise(env, &deferred, &promise);
  void *src, *dst;
  size_t src_len, dst_len;
  int32_t level, window_bits, mem_level;
  int64_t early = 0;
  if (argc < 5 || !get_bytes(env, argv[0], &src, &src_len) || !get_bytes(env, argv[1], &dst, &dst_len) ||
      napi_get_value_int32(env, argv[2], &level) != napi_ok || napi_get_value_int32(env, argv[3], &window_bits) != napi_ok ||
      napi_get_value_int32(env, argv[4], &mem_level) != napi_ok || window_bits < 8 || window_bits > 15 ||
      src_len > UINT32_MAX || dst_len > UINT32_MAX)
    early = -EINVAL;
  else if (!zl_ready())
    early = -ENOSYS;
  deflate_job *j = early == 0 ? calloc(1, sizeof *j) : NULL;
  if (early == 0 && j == NULL) early = -ENOMEM;
  if (early != 0) {
    napi_value v;
    napi_create_int64(env, early, &v);
    napi_resolve_deferred(env, deferred, v);
    return promise;
  }
  *j = (deflate_job){ .deferred = deferred, .src = src, .src_len = src_len, .dst = dst, .dst_len = dst_len,
                      .level = level, .window_bits = window_bits, .mem_level = mem_level };
  napi_create_reference(env, argv[0], 1, &j->src_ref);
  napi_create_reference(env, argv[1], 1, &j->dst_ref);
  napi_value name;
  napi_create_string_utf8(env, "tsemu:deflateRaw", NAPI_AUTO_LENGTH, &name);
  napi_create_async_work(env, NULL, name, job_execute, job_complete, j, &j->work);
  napi_queue_async_work(env, j->work);
  return promise;
}
