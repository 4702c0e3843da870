import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { makeTestFile, seededOffsets } from '../src/index.js';

describe('fixtures', () => {
  it('makeTestFile writes data, zeros and holes where the layout says', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'bench-fix-'));
    try {
      const path = join(dir, 'img.raw');
      const kinds = ['data', 'zero', 'hole', 'data'] as const;
      await makeTestFile(path, { size: 4 * 4096 + 100, chunk: 4096, layout: (i) => kinds[i] ?? 'hole' });
      const bytes = await readFile(path);
      expect(bytes.length).toBe(4 * 4096 + 100);
      const chunk = (i: number) => bytes.subarray(i * 4096, (i + 1) * 4096);
      expect(chunk(0).some((b) => b !== 0)).toBe(true);
      expect(chunk(1).every((b) => b === 0)).toBe(true);
      expect(chunk(2).every((b) => b === 0)).toBe(true);
      expect(Buffer.compare(chunk(0), chunk(3))).not.toBe(0); // data chunks differ
      expect((await stat(path)).size).toBe(4 * 4096 + 100);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('makeTestFile fills data chunks with a pattern byte when asked', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'bench-fix-'));
    try {
      const path = join(dir, 'img.raw');
      await makeTestFile(path, { size: 8192, chunk: 4096, pattern: 0x5a, layout: (i) => (i === 0 ? 'data' : 'hole') });
      const bytes = await readFile(path);
      expect(bytes.subarray(0, 4096).every((b) => b === 0x5a)).toBe(true);
      expect(bytes.subarray(4096).every((b) => b === 0)).toBe(true);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('seededOffsets is deterministic, aligned and in range', () => {
    const a = seededOffsets(1000, 1 << 20, 4096, 7);
    expect(seededOffsets(1000, 1 << 20, 4096, 7)).toEqual(a);
    expect(seededOffsets(1000, 1 << 20, 4096, 8)).not.toEqual(a);
    expect(a.every((o) => o % 4096 === 0 && o >= 0 && o + 4096 <= 1 << 20)).toBe(true);
    expect(new Set(a).size).toBeGreaterThan(200);
  });
});
