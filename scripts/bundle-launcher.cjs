'use strict';
// Runs a built app (dist/bundle.cjs) from the V8 code cache made at build time
// (dist/bundle.cache), so Node does not parse and compile ~400 KB of JavaScript
// at every start. Node 20 has no module compile cache, but vm.Script takes
// cachedData. Copied into each app's dist/ as launcher.cjs by scripts/tsup-app.ts.
// CommonJS on purpose: an ES module entry costs Node ~5 ms more to start.
//
// A missing, unreadable, stale or rejected cache (another Node/V8 version or
// flags, a damaged file) just means a normal compile. This file never writes
// anything: the cache is made only by scripts/make-code-cache.cjs.
const { readFileSync } = require('node:fs');
const { createRequire } = require('node:module');
const { join } = require('node:path');
const { Script } = require('node:vm');

// The same parameters Node's own CommonJS wrapper passes to a module.
const HEAD = '(function (exports, require, module, __filename, __dirname) {';
const TAIL = '\n})';
// V8 checks a cache against the source's length only, so the build ends the
// bundle with an id (a hash of its text) and starts the cache file with it: a
// cache left over from another build of the same length is never used.
const ID_LENGTH = 16;
const ID_RE = /\/\/# tsemu-bundle-id=([0-9a-f]{16})\n$/;

/** The id written at the end of a bundle's text, or undefined. */
function bundleId(text) {
  const m = ID_RE.exec(text.slice(-64));
  return m ? m[1] : undefined;
}

/**
 * Compiles dir/bundle.cjs, with dir/bundle.cache when it belongs to this bundle
 * and V8 accepts it. cache: 'used' | 'rejected' (V8 refused it) | 'stale' (made
 * for another bundle) | 'missing' (no readable file).
 */
function compileBundle(dir) {
  const file = join(dir, 'bundle.cjs');
  const text = readFileSync(file, 'utf8');
  const source = HEAD + text + TAIL;
  let data;
  try { data = readFileSync(join(dir, 'bundle.cache')); } catch { /* compile without */ }
  const id = bundleId(text);
  const fresh = data !== undefined && id !== undefined && data.length > ID_LENGTH && data.latin1Slice(0, ID_LENGTH) === id;
  const script = new Script(source, { filename: file, cachedData: fresh ? data.subarray(ID_LENGTH) : undefined });
  const cache = data === undefined ? 'missing' : !fresh ? 'stale' : script.cachedDataRejected ? 'rejected' : 'used';
  return { script, file, id, cache };
}

/** Evaluates a compiled bundle as the CommonJS module dir/bundle.cjs would be. */
function evaluateBundle({ script, file }, dir) {
  const module = { exports: {}, filename: file, id: file };
  script.runInThisContext().call(module.exports, module.exports, createRequire(file), module, file, dir);
  return module;
}

// V8 flags for a tool's run. V8 starts the young generation at 1 MiB and
// doubles it only as objects survive into it, so a tool that builds up live
// data at start-up (tsemu-arm: the IR of every translated block) copies the
// same objects through a dozen small scavenges. Grown 16x at its first
// growth it reaches V8's maximum (16 MiB per semi-space) at once, and the
// scavenger's work at start-up drops (instructions of a whole run,
// scripts/icount.sh: a static hello under tsemu-arm -8%, busybox gzip of
// 1 MiB -3.4%, bzip2 -2.8%). Set only after the bundle is compiled: the
// code cache records the flags it was made with (make-code-cache.cjs never
// sets these), and V8 rejects it under others.
const RUN_FLAGS = '--semi-space-growth-factor=16';
// An app's own run flags (AppBuildExtras.runFlags in scripts/tsup-app.ts,
// written into its copy of this file at build time), applied the same way.
const APP_FLAGS = '';

/** Applies RUN_FLAGS and APP_FLAGS to this process (after compileBundle). */
function setRunFlags() {
  require('node:v8').setFlagsFromString(APP_FLAGS ? `${RUN_FLAGS} ${APP_FLAGS}` : RUN_FLAGS);
}

/** What bin/<app>.js and dist/main.js call: start the tool in this process. */
function runBundle(dir) {
  const compiled = compileBundle(dir);
  setRunFlags();
  return evaluateBundle(compiled, dir);
}

module.exports = { bundleId, compileBundle, evaluateBundle, runBundle, setRunFlags, RUN_FLAGS, APP_FLAGS, ID_LENGTH };
