#!/usr/bin/env bash
# One set-up for `npm test`, `npm run demo` and CI: pnpm if missing, then the workspace's dependencies.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v pnpm >/dev/null 2>&1 || [ "$(pnpm --version 2>/dev/null)" != "12.21.0" ]; then
  npm i -g pnpm@12.21.0 >/dev/null
fi
pnpm install --frozen-lockfile=false --reporter=silent
# The optional native addons (host_io: SEEK_DATA, hole punching, RWF_NOWAIT; proc: guest processes):
# rebuilt when one is missing or older than its C source.
for addon in host_io proc; do
  out=packages/host-io/build/$addon.node src=packages/host-io/native/$addon.c
  if [ ! -f "$out" ] || [ "$src" -nt "$out" ]; then sh packages/host-io/native/build.sh; break; fi
done
