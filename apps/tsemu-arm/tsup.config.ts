import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'tsup';
import { appBuildOptions } from '../../scripts/tsup-app.js';

// Each guest fork starts another tsemu-arm, so the code cache pays off most for
// the translator: train it on busybox when the armhf busybox is installed.
const busybox = process.env.BUSYBOX_ARMHF ?? '/opt/busybox-armhf/bin/busybox';
const train = [['-h'], ...(existsSync(busybox) ? [[busybox, 'sh', '-c', 'echo $((6 * 7)) | wc -c']] : [])];

// Two TurboFan phases that cost compile time and give translated blocks
// nothing: escape analysis (TBs allocate no objects) and loop peeling (a
// self-looping TB's loop body is already lean). Every TB V8 optimises
// compiles faster; instructions of whole runs (scripts/icount.sh): busybox
// awk -1.7%, gzip -2.0%, bzip2 -1.5%, the CPU kernels -1.4%, a static hello
// -1.9% (README, Speed).
export const runFlags = '--no-turbo-escape --no-turbo-loop-peeling';

export default defineConfig(appBuildOptions(fileURLToPath(new URL('.', import.meta.url)), { train, withProcAddon: true, runFlags }));
