#!/usr/bin/env node
'use strict';
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
