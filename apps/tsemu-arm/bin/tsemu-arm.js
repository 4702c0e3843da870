#!/usr/bin/env -S node --no-concurrent-recompilation
'use strict';
// The flag: V8 then compiles a hot function with TurboFan on this thread,
// while it waits, instead of on a helper thread while this one goes on
// running the function's baseline code. A hot TB's baseline code is ~20x
// slower than its optimised code, so the concurrent way burns CPU time for
// little progress: busybox gzip of 8 MiB takes ~10% less CPU without it
// (apps/tsemu-arm/README.md, Speed). It can only be given on node's command
// line (V8 creates its compile thread at start-up); it leaves the code cache
// valid. Run as `node bin/tsemu-arm.js`, the flag is missing: same results,
// more CPU.
// In a checkout (src/main.ts present) this runs src/ through tsx with the
// `source` condition, so a stale dist/ can never be picked up by accident.
// Published packages ship bin/ + dist/ only, and then dist/ runs: launcher.cjs
// starts bundle.cjs from its V8 code cache. TSEMU_USE_DIST=1 asks for dist/ in a
// checkout (`pnpm bench` sets it right after building). CommonJS (bin/package.json)
// because an ES module entry costs Node ~5 ms more to start.
const { existsSync } = require('node:fs');
const { join } = require('node:path');
const { pathToFileURL } = require('node:url');

const source = join(__dirname, '../src/main.ts');
const dist = join(__dirname, '../dist');
if (existsSync(source) && !process.env.TSEMU_USE_DIST) {
  import('tsx/esm/api').then(async ({ register: registerTsx }) => {
    registerTsx();
    require('node:module').register('data:text/javascript,export const resolve=(s,c,n)=>n(s,{...c,conditions:["source",...c.conditions]});');
    await import(pathToFileURL(source).href);
  });
} else if (existsSync(join(dist, 'bundle.cjs'))) {
  require(join(dist, 'launcher.cjs')).runBundle(dist);
} else {
  process.stderr.write(`${process.argv[1]}: ${join(dist, 'bundle.cjs')} is missing; build it with: pnpm nx run-many -t build\n`);
  process.exitCode = 1;
}
