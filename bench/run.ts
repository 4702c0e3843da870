// `pnpm bench [filter]`: runs packages/*/bench/*.bench.ts and apps/*/bench/*.bench.ts.
// Imported by path: the root package does not depend on @tsemu/bench-harness.
import { fileURLToPath } from 'node:url';
import { benchMain, buildApps } from '../packages/bench-harness/src/index.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const argv = process.argv.slice(2);
const progress = (line: string): void => { process.stderr.write(`  ${line}\n`); };

// Measure what users run: build the apps (tsup bundles, a few seconds), then
// have every apps/*/bin/* run its fresh dist/ instead of src/ through tsx.
// BENCH_NO_BUILD=1 measures the source checkout as it is (tsx start-up included).
if (!argv.some((a) => a === '--list' || a === '--help' || a === '-h') && !process.env.BENCH_NO_BUILD) {
  buildApps(root, progress);
  process.env.TSEMU_USE_DIST = '1';
}

process.exitCode = await benchMain(argv, { root, progress });
