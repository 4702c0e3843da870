// Entry for the Nx `cli` target: pnpm nx run qemu-io:cli -- ARGS
import { main } from './index.js';

process.exitCode = await main(process.argv.slice(2));
