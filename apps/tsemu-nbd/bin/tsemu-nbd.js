#!/usr/bin/env node
// In a checkout (src/main.ts present) this runs src/ through tsx with the
// `source` condition, so a stale dist/ can never be picked up by accident.
// Published packages ship bin/ + dist/ only, and then dist/ runs. TSEMU_USE_DIST=1
// asks for dist/ in a checkout (`pnpm bench` sets it right after building).
import { existsSync } from 'node:fs';
import { register } from 'node:module';

const source = new URL('../src/main.ts', import.meta.url);
const built = new URL('../dist/main.js', import.meta.url);
if (existsSync(source) && !process.env.TSEMU_USE_DIST) {
  const { register: registerTsx } = await import('tsx/esm/api');
  registerTsx();
  register('data:text/javascript,export const resolve=(s,c,n)=>n(s,{...c,conditions:["source",...c.conditions]});');
  await import(source.href);
} else if (existsSync(built)) {
  await import(built.href);
} else {
  process.stderr.write(`${process.argv[1]}: ${built.pathname} is missing; build it with: pnpm nx run-many -t build\n`);
  process.exitCode = 1;
}
