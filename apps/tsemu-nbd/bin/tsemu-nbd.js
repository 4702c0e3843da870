#!/usr/bin/env node
// Runs dist/ when built; in a source checkout runs src/ through tsx with the `source` condition.
import { existsSync } from 'node:fs';
import { register } from 'node:module';

const built = new URL('../dist/main.js', import.meta.url);
if (existsSync(built)) {
  await import(built.href);
} else {
  const { register: registerTsx } = await import('tsx/esm/api');
  registerTsx();
  register('data:text/javascript,export const resolve=(s,c,n)=>n(s,{...c,conditions:["source",...c.conditions]});');
  await import(new URL('../src/main.ts', import.meta.url).href);
}
