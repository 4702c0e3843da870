'use strict';
// Build step (never run by a tool): runs a built app once in this process with
// the given arguments, then writes the V8 code cache of dist/bundle.cjs to
// dist/bundle.cache. Made after the run, the cache holds the bytecode of every
// function that run compiled, not only the top level. scripts/tsup-app.ts runs
// this once per training command line, each run starting from the previous
// cache, so the cache covers all of them.
// usage: node make-code-cache.cjs <dist dir> [tool arguments...]
const { renameSync, writeFileSync } = require('node:fs');
const { join } = require('node:path');
const { compileBundle, evaluateBundle } = require('./bundle-launcher.cjs');

const [dir, ...args] = process.argv.slice(2);
process.argv = [process.argv[0], join(dir, 'main.js'), ...args];
const compiled = compileBundle(dir);
if (compiled.id === undefined) throw new Error(`${compiled.file} has no tsemu-bundle-id line`);
process.on('exit', () => {
  const tmp = join(dir, `bundle.cache.${process.pid}`);
  // The bundle's id first (see bundle-launcher.cjs), then V8's data.
  writeFileSync(tmp, Buffer.concat([Buffer.from(compiled.id, 'latin1'), compiled.script.createCachedData()]));
  renameSync(tmp, join(dir, 'bundle.cache'));
});
evaluateBundle(compiled, dir);
