// Shared tsup set-up for the apps: one self-contained dist/main.js per app, with
// every @tsemu/* workspace package inlined from its src/ (the `source` export
// condition), so a built tool loads one file instead of transpiling src/ through
// tsx at every start (~0.4 s). Used by apps/*/tsup.config.ts.
import { copyFileSync, existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Options } from 'tsup';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const hostIoAddon = join(root, 'packages/host-io/build/host_io.node');
const ADDON_PATH = "'../build/host_io.node'";

/**
 * host-io loads its addon relative to its own module file; once inlined that
 * file is dist/main.js, so point it at a copy placed next to the bundle.
 */
const hostIoAddonPlugin = {
  name: 'tsemu-host-io-addon',
  setup(build: { onLoad: (o: { filter: RegExp }, cb: (a: { path: string }) => { contents: string; loader: 'ts' } | undefined) => void }) {
    build.onLoad({ filter: /[\\/]host-io[\\/]src[\\/]index\.ts$/ }, ({ path }) => {
      const text = readFileSync(path, 'utf8');
      if (!text.includes(ADDON_PATH)) throw new Error(`${path}: addon path ${ADDON_PATH} not found; update scripts/tsup-app.ts`);
      return { contents: text.replace(ADDON_PATH, "'./host_io.node'"), loader: 'ts' };
    });
  },
};

export function appBuildOptions(appDir: string): Options {
  return {
    entry: { main: 'src/main.ts' },
    format: ['esm'],
    platform: 'node',
    target: 'node20',
    outDir: 'dist',
    clean: true,
    bundle: true,
    splitting: false,
    sourcemap: false,
    dts: false,
    // Inline the workspace packages (from src/, no library build needed); Node built-ins stay external.
    noExternal: [/^@tsemu\//],
    esbuildOptions(options) {
      options.conditions = ['source', ...(options.conditions ?? [])];
    },
    esbuildPlugins: [hostIoAddonPlugin as never],
    async onSuccess() {
      // Without a built addon (no compiler) host-io reports itself unavailable, as in src/.
      if (existsSync(hostIoAddon)) copyFileSync(hostIoAddon, join(appDir, 'dist/host_io.node'));
      const procAddon = join(root, 'packages/host-io/build/proc.node'); // guest fork/pipe/waitpid (tsemu-arm)
      if (existsSync(procAddon)) copyFileSync(procAddon, join(appDir, 'dist/proc.node'));
    },
  };
}
