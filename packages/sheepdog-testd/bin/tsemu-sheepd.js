#!/usr/bin/env node
// In a checkout (src/main.ts present) this runs src/ through tsx with the
// `source` condition, so a stale dist/ is never picked up by accident;
// TSEMU_USE_DIST=1 asks for dist/. Published packages ship dist/ and run it.
import { existsSync } from 'node:fs';
import { register } from 'node:module';

const source = new URL('../src/main.ts', import.meta.url);
const built = new URL('../dist/main.js', import.meta.url);
if (existsSync(source) && !(process.env.TSEMU_USE_DIST && existsSync(built))) {
  const { register: registerTsx } = await import('tsx/esm/api');
  registerTsx();
  register('data:text/javascript,export const resolve=(s,c,n)=>n(s,{...c,conditions:["source",...c.conditions]});');
  await import(source.href);
} else {
  await import(built.href);
}
