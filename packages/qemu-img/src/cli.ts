// Entry for the Nx `cli` target: pnpm nx run qemu-img:cli -- ARGS
import { main } from './index.js';

// main's default streams ignore write errors on a closed or full stdout, as qemu-img does.
process.exitCode = await main(process.argv.slice(2));
