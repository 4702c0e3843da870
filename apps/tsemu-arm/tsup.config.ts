import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'tsup';
import { appBuildOptions } from '../../scripts/tsup-app.js';

// Each guest fork starts another tsemu-arm, so the code cache pays off most for
// the translator: train it on busybox when the armhf busybox is installed.
const busybox = process.env.BUSYBOX_ARMHF ?? '/opt/busybox-armhf/bin/busybox';
const train = [['-h'], ...(existsSync(busybox) ? [[busybox, 'sh', '-c', 'echo $((6 * 7)) | wc -c']] : [])];

export default defineConfig(appBuildOptions(fileURLToPath(new URL('.', import.meta.url)), { train, withProcAddon: true }));
