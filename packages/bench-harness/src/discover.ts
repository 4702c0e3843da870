import { existsSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const BENCH_PARENTS = ['packages', 'apps'];
const BENCH_SUFFIX = '.bench.ts';

/** `packages/*\/bench/*.bench.ts` and `apps/*\/bench/*.bench.ts` under root, sorted, as absolute paths. */
export function findBenchFiles(root: string): string[] {
  const found: string[] = [];
  for (const parent of BENCH_PARENTS) {
    const parentDir = join(root, parent);
    if (!existsSync(parentDir)) continue;
    for (const project of readdirSync(parentDir, { withFileTypes: true })) {
      if (!project.isDirectory()) continue;
      const benchDir = join(parentDir, project.name, 'bench');
      if (!existsSync(benchDir)) continue;
      for (const file of readdirSync(benchDir)) {
        if (file.endsWith(BENCH_SUFFIX)) found.push(join(benchDir, file));
      }
    }
  }
  return found.sort();
}

/** The monorepo root: the nearest ancestor of this file holding pnpm-workspace.yaml. */
export function workspaceRoot(from: string = dirname(fileURLToPath(import.meta.url))): string {
  for (let dir = from; ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'pnpm-workspace.yaml'))) return dir;
    if (dirname(dir) === dir) throw new Error(`no pnpm-workspace.yaml above ${from}`);
  }
}

/** Absolute path of a workspace bin, e.g. workspaceBin('tsemu-io') -> <root>/node_modules/.bin/tsemu-io. */
export function workspaceBin(name: string, root: string = workspaceRoot()): string {
  return join(root, 'node_modules', '.bin', name);
}
