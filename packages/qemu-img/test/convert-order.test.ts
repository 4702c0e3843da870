// convert keeps writes in image order unless -W, even when reads finish out
// of order (a test driver delays reads at random).
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { registerDriver, type BlockDriver, type BlockNode } from '@tsemu/block-core';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { main } from '../src/index.js';

const writes: number[] = [];

/** Reads sleep 0-5 ms; writes are recorded. */
const jitterDriver: BlockDriver = {
  name: 'test-jitter',
  kind: 'format',
  async open(ctx) {
    const file: BlockNode = await ctx.openChild('file');
    return {
      requestAlignment: 1,
      getLength: () => file.getLength(),
      async preadv(offset, _length, iov) {
        await new Promise((r) => setTimeout(r, Math.random() * 5));
        await file.readv(offset, iov);
      },
      async pwritev(offset, _length, iov, flags) {
        writes.push(offset);
        await file.writev(offset, iov, flags);
      },
      close: async () => {},
    };
  },
};

const quiet = { stdout: { write: () => true }, stderr: { write: () => true } };
const dir = mkdtempSync(join(tmpdir(), 'qemu-img-order-'));
const src = join(dir, 'src.raw');

beforeAll(() => {
  registerDriver(jitterDriver);
  const data = new Uint8Array(24 * 1024 * 1024);
  for (let i = 0; i < data.length; i += 4096) data[i] = (i >>> 12) | 1;
  writeFileSync(src, data);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function convert(extra: string[], name: string): Promise<string> {
  const dst = join(dir, name);
  writeFileSync(dst, new Uint8Array(24 * 1024 * 1024));
  writes.length = 0;
  expect(await main(['convert', '-n', '-m', '8', ...extra, '-f', 'test-jitter', '-O', 'test-jitter', src, dst], quiet)).toBe(0);
  return dst;
}

it('writes in ascending order without -W and copies every byte', async () => {
  const dst = await convert([], 'ordered.raw');
  expect(writes.length).toBeGreaterThan(8);
  expect(writes).toEqual([...writes].sort((a, b) => a - b));
  expect(Buffer.compare(readFileSync(dst), readFileSync(src))).toBe(0);
});

it('may write out of order with -W, and still copies every byte', async () => {
  const dst = await convert(['-W'], 'unordered.raw');
  expect(new Set(writes).size).toBe(writes.length);
  expect(Buffer.compare(readFileSync(dst), readFileSync(src))).toBe(0);
});
