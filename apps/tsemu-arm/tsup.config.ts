import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'tsup';
import { appBuildOptions } from '../../scripts/tsup-app.js';

// Each guest fork starts another tsemu-arm, so the code cache pays off most for
// the translator: train it on busybox when the armhf busybox is installed.
const busybox = process.env.BUSYBOX_ARMHF ?? '/opt/busybox-armhf/bin/busybox';
const train = [['-h'], ...(existsSync(busybox) ? [[busybox, 'sh', '-c', 'echo $((6 * 7)) | wc -c']] : [])];

const appDir = fileURLToPath(new URL('.', import.meta.url));
const options = appBuildOptions(appDir, { train, withProcAddon: true });
const shared = options.onSuccess;

// `node dist/main.js` (pnpm bench, and every guest fork re-runs the command
// line that started it) as CommonJS: an ES module entry loads Node's ESM
// loader first, ~7 ms of CPU per start (static hello 0.105 -> 0.098 s, mean
// of 10). dist/package.json makes main.js CommonJS inside the "type": "module"
// package; bundle.cjs and launcher.cjs are unchanged.
const MAIN_CJS = `'use strict';
// Entry for \`node dist/main.js\`: the tool is bundle.cjs, run by launcher.cjs with its code cache.
require('./launcher.cjs').runBundle(__dirname);
`;

export default defineConfig({
  ...options,
  async onSuccess() {
    if (typeof shared === 'function') await shared();
    const outDir = options.outDir ?? join(appDir, 'dist');
    writeFileSync(join(outDir, 'package.json'), '{ "type": "commonjs" }\n');
    writeFileSync(join(outDir, 'main.js'), MAIN_CJS);
  },
});
