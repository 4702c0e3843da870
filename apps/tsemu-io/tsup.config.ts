import { fileURLToPath } from 'node:url';
import { defineConfig } from 'tsup';
import { appBuildOptions } from '../../scripts/tsup-app.js';

// The code cache is trained on reads and writes of a raw image (probing included).
const train = [
  ['-V'],
  ['-c', 'write -P 0xab 0 64k', '-c', 'read -P 0xab 0 64k', '-c', 'map', '{tmp}/disk.raw'],
  ['-f', 'raw', '-c', 'read -q 0 4k', '-c', 'length', '{tmp}/disk.raw'],
];

export default defineConfig(appBuildOptions(fileURLToPath(new URL('.', import.meta.url)), { train }));
