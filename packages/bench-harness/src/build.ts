import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

/**
 * Builds every app that has a tsup.config.ts (apps/*\/dist/main.js) so a bench
 * measures the tool a user installs, not tsx transpiling src/ at each start.
 * Returns the app names built; throws with tsup's output if a build fails.
 */
export function buildApps(root: string, log: (line: string) => void = () => {}): string[] {
  const appsDir = join(root, 'apps');
  if (!existsSync(appsDir)) return [];
  const tsup = join(root, 'node_modules', '.bin', 'tsup');
  const built: string[] = [];
  for (const app of readdirSync(appsDir, { withFileTypes: true })) {
    const dir = join(appsDir, app.name);
    if (!app.isDirectory() || !existsSync(join(dir, 'tsup.config.ts'))) continue;
    log(`building apps/${app.name}`);
    const r = spawnSync(tsup, [], { cwd: dir, encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`build of apps/${app.name} failed:\n${r.stdout}${r.stderr}${r.error?.message ?? ''}`);
    built.push(app.name);
  }
  return built;
}

/** Absolute path of an app's bundle, e.g. builtApp('tsemu-io') -> <root>/apps/tsemu-io/dist/main.js. */
export function builtApp(name: string, root: string): string {
  return join(root, 'apps', name, 'dist', 'main.js');
}
