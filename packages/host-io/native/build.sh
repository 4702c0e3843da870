#!/bin/sh
# Builds native/host_io.c (with native/zstd.c and native/zlib.c) into build/host_io.node against the running Node's
# headers (<prefix>/include/node). No node-gyp: one C file, one compiler call.
# Failure is not fatal: @tsemu/host-io then reports `available: false` and
# callers keep their portable paths.
cd "$(dirname "$0")/.." || exit 0
inc=$(node -p "require('path').resolve(process.execPath, '../../include/node')")
[ -f "$inc/node_api.h" ] || { echo "host-io: no Node headers in $inc; native calls disabled" >&2; exit 0; }
mkdir -p build
${CC:-cc} -O2 -Wall -shared -fPIC -I"$inc" native/host_io.c native/zstd.c native/zlib.c -o build/host_io.node.tmp && mv build/host_io.node.tmp build/host_io.node \
  || echo "host-io: native build failed; native calls disabled" >&2
${CC:-cc} -O2 -Wall -shared -fPIC -I"$inc" native/proc.c -o build/proc.node.tmp && mv build/proc.node.tmp build/proc.node || echo "host-io: proc addon build failed; guest processes run one after another" >&2
