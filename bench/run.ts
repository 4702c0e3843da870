// `pnpm bench [filter]`: runs packages/*/bench/*.bench.ts and apps/*/bench/*.bench.ts.
// Imported by path: the root package does not depend on @tsemu/bench-harness.
import { fileURLToPath } from 'node:url';
import { benchMain } from '../packages/bench-harness/src/index.js';

process.exitCode = await benchMain(process.argv.slice(2), {
  root: fileURLToPath(new URL('..', import.meta.url)),
  progress: (line) => process.stderr.write(`  ${line}\n`),
});
