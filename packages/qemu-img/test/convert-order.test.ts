// convert keeps writes in image order unless -W, even when reads finish out
// of order (the test format delays reads, and writes, at random), with one
// write in flight at a time, as qemu-img.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { main } from '../src/index.js';
import { registerPassThrough } from './pass-through-format.js';

/** What the test format saw: write offsets in the order they started, the most in flight at once. */
const started: number[] = [];
let inFlight = 0;
let maxInFlight = 0;

const sleep = (maxMs: number) => new Promise((r) => setTimeout(r, Math.random() * maxMs));

const quiet = { stdout: { write: () => true }, stderr: { write: () => true } };
const dir = mkdtempSync(join(tmpdir(), 'qemu-img-order-'));
const src = join(dir, 'src.raw');

beforeAll(() => {
  // Reads sleep up to 5 ms, writes (recorded) up to 2 ms.
  registerPassThrough('test-jitter', {
    async read(_offset, _length, pass) {
      await sleep(5);
      await pass();
    },
    async write(offset, _length, _flags, pass) {
      started.push(offset);
      maxInFlight = Math.max(maxInFlight, ++inFlight);
      try {
        await sleep(2);
        await pass();
      } finally {
        inFlight--;
      }
    },
  });
  const data = new Uint8Array(24 * 1024 * 1024);
  for (let i = 0; i < data.length; i += 4096) data[i] = (i >>> 12) | 1;
  writeFileSync(src, data);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function convert(extra: string[], name: string): Promise<string> {
  const dst = join(dir, name);
  writeFileSync(dst, new Uint8Array(24 * 1024 * 1024));
  started.length = 0;
  maxInFlight = 0;
  expect(await main(['convert', '-n', '-m', '8', ...extra, '-f', 'test-jitter', '-O', 'test-jitter', src, dst], quiet)).toBe(0);
  return dst;
}

it('writes in ascending order without -W, one at a time, and copies every byte', async () => {
  const dst = await convert([], 'ordered.raw');
  expect(started.length).toBeGreaterThan(8);
  expect(started).toEqual([...started].sort((a, b) => a - b));
  expect(maxInFlight).toBe(1);
  expect(Buffer.compare(readFileSync(dst), readFileSync(src))).toBe(0);
});

it('may write out of order with -W, and still copies every byte', async () => {
  const dst = await convert(['-W'], 'unordered.raw');
  expect(new Set(started).size).toBe(started.length);
  expect(maxInFlight).toBeGreaterThan(1);
  expect(Buffer.compare(readFileSync(dst), readFileSync(src))).toBe(0);
});
