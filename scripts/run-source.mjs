#!/usr/bin/env node
// Runs a TypeScript entry from src/ without a build: tsx for the syntax, the
// `source` export condition so @tsemu/* packages resolve to their src/ too.
// Used by the Nx `cli` targets: node scripts/run-source.mjs ENTRY.ts [args...]
import { register } from 'node:module';
import { pathToFileURL } from 'node:url';
import { register as registerTsx } from 'tsx/esm/api';

registerTsx();
register('data:text/javascript,export const resolve=(s,c,n)=>n(s,{...c,conditions:["source",...c.conditions]});');
const [entry] = process.argv.splice(2, 1);
await import(pathToFileURL(entry).href);
