// tsemu-arm's own V8 flags (tsup.config.ts `runFlags`): the build writes them
// into its launcher.cjs, which sets them once the bundle is compiled from its
// code cache. A flag that a later Node no longer knows would make every start
// print a warning, so check node still takes each of them.
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { launcherSource } from '../../../scripts/tsup-app.js';
import { runFlags } from '../tsup.config.js';
import { tempDir } from './harness.js';

const nodeTakes = (flags: string[]): number | null => spawnSync(process.execPath, [...flags, '-e', '0'], { encoding: 'utf8' }).status;

describe('tsemu-arm run flags', () => {
  it('are V8 flags this node accepts', () => {
    const flags = runFlags.split(' ');
    expect(flags.length).toBeGreaterThan(0);
    for (const f of flags) expect(nodeTakes([f]), f).toBe(0);
    expect(nodeTakes(['--no-turbo-no-such-phase'])).not.toBe(0);
  });

  it('become the launcher\'s APP_FLAGS, which setRunFlags applies after the shared RUN_FLAGS', () => {
    const dir = tempDir();
    const file = join(dir, 'launcher.cjs');
    writeFileSync(file, launcherSource(runFlags));
    const launcher = createRequire(import.meta.url)(file) as { APP_FLAGS: string; RUN_FLAGS: string };
    expect(launcher.APP_FLAGS).toBe(runFlags);
    expect(launcher.RUN_FLAGS).toMatch(/^--semi-space-growth-factor=16$/);
    // Without run flags the launcher is the shared one, unchanged.
    const plain = join(dir, 'plain.cjs');
    writeFileSync(plain, launcherSource());
    expect((createRequire(import.meta.url)(plain) as { APP_FLAGS: string }).APP_FLAGS).toBe('');
  });
});
