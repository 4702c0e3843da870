// convert keeps writes in image order unless -W, even when reads finish out
// of order (test drivers delay reads, and writes, at random). A target that
// promises ordered writes may overlap (BlockDriverState.orderedOverlap) gets
// them flagged `ordered`, still started in image order, at most two in flight,
// and chunks waiting back to back merged into one write of up to 4 chunks.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { main } from '../src/index.js';
import { registerPassThrough } from './pass-through-format.js';

/** What the test drivers saw: write offsets in the order they started, their `ordered` flags, the most in flight at once. */
const started: number[] = [];
const lengths: number[] = [];
const flagged: boolean[] = [];
let inFlight = 0;
let maxInFlight = 0;

const sleep = (maxMs: number) => new Promise((r) => setTimeout(r, Math.random() * maxMs));

/** A pass-through format whose reads sleep up to 5 ms and whose writes, recorded, sleep up to `writeJitterMs`. */
function registerRecording(name: string, writeJitterMs: number, orderedOverlap?: boolean): void {
  registerPassThrough(name, {
    orderedOverlap,
    async read(_offset, _length, pass) {
      await sleep(5);
      await pass();
    },
    async write(offset, length, flags, pass) {
      started.push(offset);
      lengths.push(length);
      flagged.push(flags.ordered === true);
      maxInFlight = Math.max(maxInFlight, ++inFlight);
      try {
        await sleep(writeJitterMs);
        await pass();
      } finally {
        inFlight--;
      }
    },
  });
}

const quiet = { stdout: { write: () => true }, stderr: { write: () => true } };
const dir = mkdtempSync(join(tmpdir(), 'qemu-img-order-'));
const src = join(dir, 'src.raw');

beforeAll(() => {
  registerRecording('test-jitter', 0);
  registerRecording('test-overlap', 5, true);
  registerRecording('test-no-overlap', 5, false);
  const data = new Uint8Array(24 * 1024 * 1024);
  for (let i = 0; i < data.length; i += 4096) data[i] = (i >>> 12) | 1;
  writeFileSync(src, data);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function convert(format: string, extra: string[], name: string): Promise<string> {
  const dst = join(dir, name);
  writeFileSync(dst, new Uint8Array(24 * 1024 * 1024));
  started.length = lengths.length = flagged.length = 0;
  maxInFlight = 0;
  expect(await main(['convert', '-n', '-m', '8', ...extra, '-f', format, '-O', format, src, dst], quiet)).toBe(0);
  return dst;
}

const ascending = (xs: number[]) => [...xs].sort((a, b) => a - b);

it('writes in ascending order without -W and copies every byte', async () => {
  const dst = await convert('test-jitter', [], 'ordered.raw');
  expect(started.length).toBeGreaterThan(8);
  expect(started).toEqual(ascending(started));
  expect(maxInFlight).toBe(1);
  expect(Buffer.compare(readFileSync(dst), readFileSync(src))).toBe(0);
});

it('may write out of order with -W, and still copies every byte', async () => {
  const dst = await convert('test-jitter', ['-W'], 'unordered.raw');
  expect(new Set(started).size).toBe(started.length);
  expect(Buffer.compare(readFileSync(dst), readFileSync(src))).toBe(0);
});

it('overlaps in-order writes by one when the target promises ordered overlap, merging waiting chunks', async () => {
  const dst = await convert('test-overlap', [], 'overlap.raw');
  expect(started.length).toBeGreaterThan(1);
  expect(started).toEqual(ascending(started));
  // Back to back, every byte once, no write over 4 chunks; the 5 ms writes let the next chunks queue up.
  for (let i = 1; i < started.length; i++) expect(started[i]).toBe(started[i - 1]! + lengths[i - 1]!);
  expect(lengths.reduce((a, b) => a + b, 0)).toBe(24 * 1024 * 1024);
  expect(Math.max(...lengths)).toBeLessThanOrEqual(8 * 1024 * 1024);
  expect(Math.max(...lengths)).toBeGreaterThan(2 * 1024 * 1024);
  expect(flagged.every((f) => f)).toBe(true);
  expect(maxInFlight).toBe(2);
  expect(Buffer.compare(readFileSync(dst), readFileSync(src))).toBe(0);
});

it('one write at a time when the target does not promise it, or with -p', async () => {
  await convert('test-no-overlap', [], 'no-overlap.raw');
  expect(started).toEqual(ascending(started));
  expect(flagged.some((f) => f)).toBe(false);
  expect(maxInFlight).toBe(1);
  expect(Math.max(...lengths)).toBe(2 * 1024 * 1024);
  const dst = await convert('test-overlap', ['-p'], 'progress.raw');
  expect(started).toEqual(ascending(started));
  expect(maxInFlight).toBe(1);
  expect(Buffer.compare(readFileSync(dst), readFileSync(src))).toBe(0);
});
