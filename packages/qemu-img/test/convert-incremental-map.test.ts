// convert maps its source a few block-status runs ahead of the copy instead of
// all of it before the first read (the copy starts earlier), yet writes the
// same target, still maps everything first under -p, and still reports a
// block-status failure as one line with exit status 1.
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BlockError } from '@tsemu/block-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { registerPassThrough } from './pass-through-format.js';
import { runMain } from './run-main.js';

const KiB = 1024;
const MiB = 1024 * KiB;
const SIZE = 16 * MiB;
/** The test format answers block status in runs this long: data, zero, data, ... */
const RUN = 64 * KiB;
const RUNS = SIZE / RUN;
const FAIL_STATUS_AT = 10 * MiB;

const seen = { statusCalls: 0, statusCallsAtFirstRead: -1 };

/** A pass-through format whose block status alternates data and zero runs; reads record how far the map had got. */
function registerRuns(name: string, failStatus: boolean): void {
  registerPassThrough(name, {
    async blockStatus(offset) {
      seen.statusCalls++;
      if (failStatus && offset >= FAIL_STATUS_AT) throw new BlockError('EIO', 'test: block status failed');
      const end = (Math.floor(offset / RUN) + 1) * RUN;
      const zero = Math.floor(offset / RUN) % 2 === 1;
      return { length: end - offset, data: !zero, zero, allocated: true };
    },
    async read(_offset, _length, pass) {
      if (seen.statusCallsAtFirstRead < 0) seen.statusCallsAtFirstRead = seen.statusCalls;
      await pass();
    },
  });
}

const dir = mkdtempSync(join(tmpdir(), 'qemu-img-map-'));
const src = join(dir, 'src.raw');
/** What the target must read back: the data runs copied, the zero runs zero. */
const expected = new Uint8Array(SIZE);

beforeAll(() => {
  registerRuns('test-runs', false);
  registerRuns('test-runs-fail', true);
  const data = new Uint8Array(SIZE);
  for (let i = 0; i < SIZE; i += 512) data[i] = ((i >>> 9) % 251) + 1;
  writeFileSync(src, data);
  for (let r = 0; r < RUNS; r += 2) expected.set(data.subarray(r * RUN, (r + 1) * RUN), r * RUN);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function reset(): void {
  seen.statusCalls = 0;
  seen.statusCallsAtFirstRead = -1;
}

describe('convert source map', () => {
  it('starts reading before the whole source is mapped and copies the same data', async () => {
    reset();
    const out = join(dir, 'out.raw');
    const r = await runMain(['convert', '-f', 'test-runs', '-O', 'raw', src, out]);
    expect(r).toEqual({ stdout: '', stderr: '', code: 0 });
    expect(seen.statusCalls).toBe(RUNS);
    expect(seen.statusCallsAtFirstRead).toBeGreaterThan(0);
    expect(seen.statusCallsAtFirstRead).toBeLessThan(RUNS / 4);
    expect(Buffer.compare(readFileSync(out), expected)).toBe(0);
    // Zero runs of a new target are left as holes, as before.
    expect(statSync(out).blocks * 512).toBeLessThan(SIZE);
  });

  it('maps everything before the first read under -p (the total comes first)', async () => {
    reset();
    const out = join(dir, 'out-p.raw');
    const r = await runMain(['convert', '-p', '-f', 'test-runs', '-O', 'raw', src, out]);
    expect(r.code).toBe(0);
    expect(seen.statusCallsAtFirstRead).toBe(RUNS);
    expect(Buffer.compare(readFileSync(out), expected)).toBe(0);
  });

  it('reports a block-status failure behind the copy as qemu-img\'s one line (offset, strerror), exit 1', async () => {
    for (const m of ['1', '8']) {
      reset();
      const r = await runMain(['convert', '-m', m, '-f', 'test-runs-fail', '-O', 'raw', src, join(dir, `fail${m}.raw`)]);
      expect(r).toEqual({ stdout: '', stderr: 'qemu-img: error while reading block status at offset 10485760: Input/output error\n', code: 1 });
      // The map stopped at the failing run.
      expect(seen.statusCalls).toBe(FAIL_STATUS_AT / RUN + 1);
    }
  });

  it('under -p, a block-status failure comes before anything is read', async () => {
    reset();
    const r = await runMain(['convert', '-p', '-f', 'test-runs-fail', '-O', 'raw', src, join(dir, 'fail-p.raw')]);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe('qemu-img: error while reading block status at offset 10485760: Input/output error\n');
    expect(seen.statusCallsAtFirstRead).toBe(-1);
  });
});
