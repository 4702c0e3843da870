// Shared tsup set-up for the apps: one self-contained CommonJS bundle per app
// (dist/bundle.cjs), with every @tsemu/* workspace package inlined from its src/
// (the `source` export condition), so a built tool loads one file instead of
// transpiling src/ through tsx at every start (~0.4 s). Next to it: the V8 code
// cache of the bundle (bundle.cache, made here by running the tool on a few
// training command lines), launcher.cjs which runs the bundle with that cache,
// and main.js, an entry for `node dist/main.js`. Used by apps/*/tsup.config.ts.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { appendFileSync, copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Options } from 'tsup';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const hostIoAddon = join(root, 'packages/host-io/build/host_io.node');
const ADDON_LOAD = "createRequire(import.meta.url)('../build/host_io.node')";
const PROC_REQUIRE = 'const req = createRequire(import.meta.url);';
const PROC_PATHS = "['../build/proc.node', './proc.node']";

/** Replaces each `from` in a file's text, failing the build when the text moved on. */
function rewrite(path: string, ...pairs: [from: string, to: string][]): { contents: string; loader: 'ts' } {
  let text = readFileSync(path, 'utf8');
  for (const [from, to] of pairs) {
    if (!text.includes(from)) throw new Error(`${path}: ${from} not found; update scripts/tsup-app.ts`);
    text = text.replace(from, to);
  }
  return { contents: text, loader: 'ts' };
}

/**
 * host-io loads its addons relative to its own module file; once inlined that
 * file is dist/bundle.cjs, so point it at copies placed next to the bundle
 * (only there: a failed lookup in ../build costs start-up time), through the
 * bundle's own `require` (the banner's `__tsemuRequire`, which esbuild leaves
 * alone): createRequire on a file URL cost ~0.5 ms of URL parsing per start.
 * proc.node is shipped only where withProcAddon asks (tsemu-arm); the block
 * tools do not even look for it (hostProc.available is false).
 */
function hostIoAddonPlugin(withProc: boolean) {
  return {
    name: 'tsemu-host-io-addon',
    setup(build: { onLoad: (o: { filter: RegExp }, cb: (a: { path: string }) => { contents: string; loader: 'ts' } | undefined) => void }) {
      build.onLoad({ filter: /[\\/]host-io[\\/]src[\\/]index\.ts$/ }, ({ path }) => rewrite(path, [ADDON_LOAD, "__tsemuRequire('./host_io.node')"]));
      build.onLoad({ filter: /[\\/]host-io[\\/]src[\\/]process\.ts$/ }, ({ path }) =>
        rewrite(path, [PROC_REQUIRE, 'const req = __tsemuRequire;'], [PROC_PATHS, withProc ? "['./proc.node']" : '[]']));
    },
  };
}

// Node built-ins that take ~1-5 ms each to load at start-up and that most runs
// of a tool never touch (net for NBD/Sheepdog, tls, crypto, child_process ...).
const LAZY_BUILTINS = ['child_process', 'crypto', 'dgram', 'dns', 'net', 'os', 'perf_hooks', 'readline', 'tls', 'tty', 'worker_threads', 'zlib'];
const LAZY_NS = 'tsemu-lazy-builtin';
const nodeRequire = createRequire(import.meta.url);

/**
 * Makes those built-ins load on first use: `import { connect } from 'node:net'`
 * gets an object whose getters (one per export of this Node's module) require
 * the real module the first time any of them is read. Semantics are unchanged,
 * only the time the module loads moves.
 */
const lazyBuiltinsPlugin = {
  name: 'tsemu-lazy-builtins',
  setup(build: {
    onResolve: (o: { filter: RegExp }, cb: (a: { path: string; namespace: string }) => { path: string; namespace?: string; external?: boolean }) => void;
    onLoad: (o: { filter: RegExp; namespace: string }, cb: (a: { path: string }) => { contents: string; loader: 'js' }) => void;
  }) {
    build.onResolve({ filter: new RegExp(`^(node:)?(${LAZY_BUILTINS.join('|')})$`) }, ({ path, namespace }) => {
      const name = path.replace(/^node:/, '');
      // The stand-in's own require of the real module stays a plain external require.
      return namespace === LAZY_NS ? { path: `node:${name}`, external: true } : { path: name, namespace: LAZY_NS };
    });
    build.onLoad({ filter: /.*/, namespace: LAZY_NS }, ({ path }) => {
      const keys = Object.keys(nodeRequire(`node:${path}`) as object);
      const getters = keys.map((k) => `get ${JSON.stringify(k)}() { return load()[${JSON.stringify(k)}]; }`);
      // The getters sit on the prototype: esbuild's __toESM copies own properties
      // one by one (~1 ms for a few modules) but keeps the prototype.
      return { contents: `let m;\nconst load = () => m ??= require(${JSON.stringify(`node:${path}`)});\nmodule.exports = Object.create({\n  ${getters.join(',\n  ')}\n});\n`, loader: 'js' };
    });
  },
};

// `node dist/main.js` (and older bins) start here. CommonJS (dist/package.json
// says so inside the "type": "module" package): an ES module entry makes Node
// load its ESM loader first, ~5-7 ms of every start.
const MAIN_JS = `'use strict';
// Entry for \`node dist/main.js\`: the tool is bundle.cjs, run by launcher.cjs with its code cache.
require('./launcher.cjs').runBundle(__dirname);
`;

export interface AppBuildExtras {
  /**
   * Command lines the code cache is trained on, run in this order at build time
   * in a temporary directory (substituted for `{tmp}`) that holds a 4 MiB raw
   * image `disk.raw` (1 MiB of data, 1 MiB of written zeroes, then a hole: a
   * convert then trains the copy path's data and zero detection too, not only
   * its hole skipping); each must exit with status 0. Default: `--version`.
   */
  train?: string[][];
  /** Ship host-io's proc.node (guest processes: tsemu-arm only). */
  withProcAddon?: boolean;
  /**
   * V8 flags the tool sets for itself once its bundle is compiled (the
   * launcher's APP_FLAGS, after its RUN_FLAGS); never on node's command line,
   * where they would make V8 reject the code cache.
   */
  runFlags?: string;
  /** Output directory (tests build into a temporary one); default dist. */
  outDir?: string;
}

/** An app's launcher.cjs: scripts/bundle-launcher.cjs with the app's run flags as its APP_FLAGS. */
export function launcherSource(runFlags = ''): string {
  const launcher = join(root, 'scripts/bundle-launcher.cjs');
  return runFlags ? rewrite(launcher, ["const APP_FLAGS = '';", `const APP_FLAGS = ${JSON.stringify(runFlags)};`]).contents : readFileSync(launcher, 'utf8');
}

/** Runs the built tool once per training command line; the last run leaves outDir/bundle.cache. */
export function makeCodeCache(outDir: string, train: string[][]): void {
  const tmp = mkdtempSync(join(tmpdir(), 'tsemu-cache-train-'));
  const env = { ...process.env };
  delete env.NODE_OPTIONS; // V8 flags from here would make users' Node reject the cache
  try {
    const head = new Uint8Array(2 << 20);
    for (let i = 0; i < 1 << 20; i++) head[i] = (i * 131 + 7) & 0xff || 1;
    writeFileSync(join(tmp, 'disk.raw'), head);
    truncateSync(join(tmp, 'disk.raw'), 4 << 20);
    for (const line of train.length ? train : [['--version']]) {
      const args = line.map((a) => a.replaceAll('{tmp}', tmp));
      const r = spawnSync(process.execPath, [join(root, 'scripts/make-code-cache.cjs'), outDir, ...args], { cwd: tmp, env, encoding: 'utf8' });
      if (r.status !== 0) throw new Error(`code cache training run \`${args.join(' ')}\` failed (status ${r.status}):\n${r.stderr}${r.error?.message ?? ''}`);
    }
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

export function appBuildOptions(appDir: string, extras: AppBuildExtras = {}): Options {
  const outDir = resolve(appDir, extras.outDir ?? 'dist');
  return {
    entry: { bundle: join(appDir, 'src/main.ts') },
    format: ['cjs'],
    outExtension: () => ({ js: '.cjs' }),
    platform: 'node',
    target: 'node20',
    outDir,
    clean: true,
    bundle: true,
    splitting: false,
    sourcemap: false,
    dts: false,
    // Inline the workspace packages (from src/, no library build needed); Node built-ins stay external.
    noExternal: [/^@tsemu\//],
    // import.meta does not exist in CommonJS: the bundle's own file URL stands in
    // (host-io loads its addons relative to it, so they sit next to the bundle).
    define: { 'import.meta.url': '__tsemuBundleUrl' },
    // "use strict" first: the banner would otherwise demote esbuild's own directive (ESM code is strict).
    // A plain path needs no escaping, and pathToFileURL's first call costs ~1 ms.
    banner: { js: '"use strict";\nvar __tsemuRequire = require;\nvar __tsemuBundleUrl = /^[\\w/.-]+$/.test(__filename) ? "file://" + __filename : require("node:url").pathToFileURL(__filename).href;' },
    esbuildOptions(options) {
      options.conditions = ['source', ...(options.conditions ?? [])];
      // A third less text to read and code cache to load at every start (~2 ms
      // of ~15); names stay, so messages and stacks keep theirs.
      // TSEMU_READABLE_BUILD=1 keeps one statement a line, for profiling.
      if (!process.env.TSEMU_READABLE_BUILD) options.minifyWhitespace = options.minifySyntax = true;
    },
    esbuildPlugins: [hostIoAddonPlugin(extras.withProcAddon === true) as never, lazyBuiltinsPlugin as never],
    removeNodeProtocol: false,
    async onSuccess() {
      // Without a built addon (no compiler) host-io reports itself unavailable, as in src/.
      if (existsSync(hostIoAddon)) copyFileSync(hostIoAddon, join(outDir, 'host_io.node'));
      const procAddon = join(root, 'packages/host-io/build/proc.node'); // guest fork/pipe/waitpid (tsemu-arm)
      if (extras.withProcAddon && existsSync(procAddon)) copyFileSync(procAddon, join(outDir, 'proc.node'));
      writeFileSync(join(outDir, 'launcher.cjs'), launcherSource(extras.runFlags));
      writeFileSync(join(outDir, 'main.js'), MAIN_JS);
      writeFileSync(join(outDir, 'package.json'), '{ "type": "commonjs" }\n');
      // The id that ties bundle.cache to this very bundle (see bundle-launcher.cjs).
      const bundle = join(outDir, 'bundle.cjs');
      const text = readFileSync(bundle, 'utf8');
      appendFileSync(bundle, `${text.endsWith('\n') ? '' : '\n'}//# tsemu-bundle-id=${createHash('sha256').update(text).digest('hex').slice(0, 16)}\n`);
      makeCodeCache(outDir, extras.train ?? []);
    },
  };
}
