// Entry for the Nx `cli` target: pnpm nx run qemu-nbd:cli -- ARGS
import { fileURLToPath } from 'node:url';
import { main } from './index.js';

process.stdout.on('error', () => {});
process.stderr.on('error', () => {});

// --fork re-runs this entry the same way the Nx target did.
const runSource = fileURLToPath(new URL('../../../scripts/run-source.mjs', import.meta.url));
const self = fileURLToPath(import.meta.url);
process.exitCode = await main(process.argv.slice(2), {
  stdout: process.stdout,
  stderr: process.stderr,
  handleSignals: true,
  forkCommand: [process.execPath, runSource, self],
});
