#!/usr/bin/env bash
# Deterministic cost of one tsemu-arm run, for A/B comparisons on a noisy
# machine: instructions counted by valgrind's callgrind, with V8 single-threaded
# (TurboFan and the GC run on the main thread, so when code tiers up does not
# depend on thread timing). Two runs of one build differ by <0.1% (gzip of
# 1 MiB: 4.6315 G / 4.6329 G) where user+sys CPU time on this VM swings by
# 10-30%. It counts instructions, not time, and single-threaded V8 tiers up
# differently from a normal run (no baseline code running while a background
# compile finishes), so confirm a win with `pnpm bench` too.
#
# usage: scripts/icount.sh [-d dist-dir] [-v "V8 flags"] program [args...]
#   dist-dir: a built apps/tsemu-arm/dist (default: this checkout's)
#   V8 flags: set at run time, after the bundle is loaded (e.g. --no-use-osr)
# Needs valgrind (apt-get install valgrind); ~60x slower than a normal run.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
dist=$here/apps/tsemu-arm/dist
v8flags=
while getopts d:v: o; do
  case $o in d) dist=$OPTARG ;; v) v8flags=$OPTARG ;; *) exit 2 ;; esac
done
shift $((OPTIND - 1))
[ $# -ge 1 ] || { sed -n '/^# usage/,/^# Needs/p' "$0" >&2; exit 2; }
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
# A tiny entry that runs the bundle as the launcher's runBundle does (its
# run-time flags after the compile), then applies the V8 flags given, the way
# TurboFan flags were tried in tsemu-arm's Speed notes (--single-threaded has
# to be on node's command line: it decides the isolate's threads at start-up).
cat > "$out/entry.cjs" <<EOF
const l = require('$dist/launcher.cjs');
const c = l.compileBundle('$dist');
if (l.setRunFlags) l.setRunFlags();
if (process.env.ICOUNT_V8) require('v8').setFlagsFromString(process.env.ICOUNT_V8);
l.evaluateBundle(c, '$dist');
EOF
# Without NODE_EXTRA_CA_CERTS, as `pnpm bench` runs tools: loading that file costs every node
# process 0.43 G instructions here.
env -u NODE_EXTRA_CA_CERTS ICOUNT_V8="$v8flags" valgrind --tool=callgrind --smc-check=all-non-file --callgrind-out-file="$out/cg" \
  node --single-threaded "$out/entry.cjs" "$@" > /dev/null 2> "$out/err" || { tail -5 "$out/err" >&2; exit 1; }
callgrind_annotate --inclusive=yes --threshold=100 "$out/cg" 2>/dev/null | awk '
  function num(s) { gsub(",", "", s); return s + 0 }
  /PROGRAM TOTALS/ { total = num($1) }
  /PipelineCompilationJob::ExecuteJobImpl/ { tf = num($1) }
  /CreateDynamicFunction/ && !parse { parse = num($1) }
  /Heap::CollectGarbage\(/ { gc = num($1) }
  END {
    printf "total %.3f G instructions\n", total / 1e9
    printf "  TurboFan %.3f G, new Function (parse + bytecode) %.3f G, GC %.3f G\n", tf / 1e9, parse / 1e9, gc / 1e9
  }'
callgrind_annotate --threshold=100 "$out/cg" 2>/dev/null | awk '
  /\?\?\?:0x[0-9a-f]+ \[\?\?\?\]/ { s = $1; gsub(",", "", s); jit += s }
  END { printf "  JIT code (TBs, and baseline code of the translator) %.3f G\n", jit / 1e9 }'
