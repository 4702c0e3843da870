#!/usr/bin/env bash
# One set-up for `npm test`, `npm run demo` and CI: pnpm if missing, then the workspace's dependencies.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v pnpm >/dev/null 2>&1 || [ "$(pnpm --version 2>/dev/null)" != "12.21.0" ]; then
  npm i -g pnpm@12.21.0 >/dev/null
fi
pnpm install --frozen-lockfile=false --reporter=silent
# The optional native addon (SEEK_DATA, hole punching): one cc call, skipped when built.
[ -f packages/host-io/build/host_io.node ] || sh packages/host-io/native/build.sh
