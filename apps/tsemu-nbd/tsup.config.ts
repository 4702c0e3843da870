import { fileURLToPath } from 'node:url';
import { defineConfig } from 'tsup';
import { appBuildOptions } from '../../scripts/tsup-app.js';

export default defineConfig(appBuildOptions(fileURLToPath(new URL('.', import.meta.url))));
