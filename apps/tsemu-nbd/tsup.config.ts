import { fileURLToPath } from 'node:url';
import { defineConfig } from 'tsup';
import { appBuildOptions } from '../../scripts/tsup-app.js';

// A server never exits by itself, so the code cache is trained on option parsing only.
const train = [['--version'], ['--help']];

export default defineConfig(appBuildOptions(fileURLToPath(new URL('.', import.meta.url)), { train }));
