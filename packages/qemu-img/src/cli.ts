// Entry for the Nx `cli` target: pnpm nx run qemu-img:cli -- ARGS
import { main } from './index.js';

// Write errors on a closed or full stdout are ignored, as qemu-img does.
process.stdout.on('error', () => {});
process.stderr.on('error', () => {});

process.exitCode = await main(process.argv.slice(2));
