import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { benchMain, findBenchFiles, workspaceBin, workspaceRoot } from '../src/index.js';

// A fake monorepo with bench files that use in-process commands only.
let root = '';
const bench = (name: string, failing = false): string => `export default {
  name: ${JSON.stringify(name)},
  cases: [{ label: 'work', tsemu: async () => {}, qemu: async () => {}${failing ? ", teardown: () => { throw new Error('td'); }" : ''} }],
};
`;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'bench-cli-'));
  await mkdir(join(root, 'packages/qemu-io/bench'), { recursive: true });
  await mkdir(join(root, 'apps/tsemu-img/bench'), { recursive: true });
  await mkdir(join(root, 'packages/other/src'), { recursive: true });
  await writeFile(join(root, 'packages/qemu-io/bench/raw.bench.ts'), bench('qemu-io raw'));
  await writeFile(join(root, 'apps/tsemu-img/bench/convert.bench.ts'), bench('tsemu-img convert', true));
  await writeFile(join(root, 'packages/qemu-io/bench/helpers.ts'), 'export {};\n');
  await writeFile(join(root, 'packages/other/src/not.bench.ts'), bench('not a bench dir'));
});
afterAll(async () => { await rm(root, { recursive: true, force: true }); });

describe('findBenchFiles', () => {
  it('finds packages/*/bench/*.bench.ts and apps/*/bench/*.bench.ts only', () => {
    expect(findBenchFiles(root)).toEqual([
      join(root, 'apps/tsemu-img/bench/convert.bench.ts'),
      join(root, 'packages/qemu-io/bench/raw.bench.ts'),
    ]);
  });
});

describe('benchMain', () => {
  it('runs only benches matching the filter and prints a table', async () => {
    const lines: string[] = [];
    const code = await benchMain(['--repeats', '2', 'raw'], { root, log: (l) => lines.push(l) });
    const out = lines.join('\n');
    expect(code).toBe(0);
    expect(out).toContain('qemu-io raw: min wall time of 2 runs');
    expect(out).not.toContain('tsemu-img convert');
  });

  it('exits 1 when a case errors, 1 when nothing matches, 2 on a bad option', async () => {
    const log = (): void => {};
    expect(await benchMain(['--repeats', '1', 'convert'], { root, log })).toBe(1);
    expect(await benchMain(['nothing-like-this'], { root, log })).toBe(1);
    expect(await benchMain(['--bogus'], { root, log })).toBe(2);
  });

  it('--list shows cases without running them', async () => {
    const lines: string[] = [];
    expect(await benchMain(['--list'], { root, log: (l) => lines.push(l) })).toBe(0);
    expect(lines.join('\n')).toMatch(/qemu-io raw {2}\(packages\/qemu-io\/bench\/raw\.bench\.ts\)\n {2}work/);
  });
});

describe('workspace helpers', () => {
  it('find the monorepo root and its bins', () => {
    const r = workspaceRoot();
    expect(workspaceBin('tsemu-io', r)).toBe(join(r, 'node_modules/.bin/tsemu-io'));
  });
});
