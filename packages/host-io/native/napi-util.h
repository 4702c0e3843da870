// Small Node-API helpers shared by host_io.c, zstd.c and zlib.c (one addon).
#ifndef TSEMU_NAPI_UTIL_H
#define TSEMU_NAPI_UTIL_H
#include <stdint.h>
#include <node_api.h>

/** A number result (a byte count, or a negative errno). */
static inline napi_value ret_i64(napi_env env, int64_t v) {
  napi_value result;
  napi_create_int64(env, v, &result);
  return result;
}

/** A byte-sized typed array (Uint8Array, Buffer, Int8Array...) -> base pointer and byte length; 0 for anything else. */
static inline int get_bytes(napi_env env, napi_value v, void **data, size_t *len) {
  bool is;
  if (napi_is_typedarray(env, v, &is) != napi_ok || !is) return 0;
  napi_typedarray_type type;
  size_t count, offset;
  napi_value ab;
  if (napi_get_typedarray_info(env, v, &type, &count, data, &ab, &offset) != napi_ok) return 0;
  if (type != napi_uint8_array && type != napi_uint8_clamped_array && type != napi_int8_array) return 0;
  *len = count;
  return 1;
}

#endif
