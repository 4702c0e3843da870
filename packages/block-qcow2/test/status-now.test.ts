// blockStatusNow (what convert maps its sources with) answers exactly what
// blockStatus answers whenever it answers at all: an L2 table not yet read,
// or a data run of an image not yet checked for metadata preallocation, is
// left to the async call.
import { execFileSync } from 'node:child_process';
import { afterAll, describe, expect, it } from 'vitest';
import { openImage, type BlockBackend, type BlockStatus } from '@tsemu/block-core';
import '@tsemu/block-qcow2';
import { makeTempDir, qemuImg, qemuIo } from './helpers/tools.js';

const tmp = makeTempDir();
afterAll(() => tmp.cleanup());

const strip = (st: BlockStatus) => ({ ...st, file: st.file === undefined ? undefined : 'file' });

/** Walks the image with both calls; returns how many runs blockStatusNow answered. */
async function compareWalk(blk: BlockBackend): Promise<{ runs: number; now: number }> {
  const size = await blk.getLength();
  let runs = 0;
  let now = 0;
  for (let off = 0; off < size;) {
    const fast = blk.blockStatusAboveNow(off, size - off);
    const slow = await blk.blockStatusAbove(off, size - off);
    if (fast !== undefined) {
      expect(strip(fast)).toEqual(strip(slow));
      now++;
    }
    runs++;
    off += slow.length;
  }
  return { runs, now };
}

describe('blockStatusNow', () => {
  it('matches blockStatus on a mixed image, once tables are cached and the image is known plain', async () => {
    const f = tmp.path('mixed.qcow2');
    qemuImg('create', '-f', 'qcow2', f, '1G');
    qemuIo(f, 'write -P 0x11 0 3M', 'write -z 4M 1M', 'write -c -P 0x22 8M 64k', 'write -P 0x33 600M 2M', 'write -P 0x44 1020M 4M');
    const blk = await openImage({ filename: f, format: 'qcow2', readOnly: true });
    // Before any table is read, a range under an L2 table cannot be answered now.
    expect(blk.blockStatusAboveNow(0, 1 << 20)).toBeUndefined();
    const first = await compareWalk(blk);
    const second = await compareWalk(blk);
    expect(second.runs).toBe(first.runs);
    // Every table is cached and preallocation was ruled out during the first walk.
    expect(second.now).toBe(second.runs);
    await blk.close();
  });

  it('leaves data runs of a metadata-preallocated image to blockStatus until it is checked', async () => {
    const f = tmp.path('prealloc.qcow2');
    qemuImg('create', '-f', 'qcow2', '-o', 'preallocation=metadata', f, '64M');
    qemuIo(f, 'write -P 0x55 1M 1M');
    const blk = await openImage({ filename: f, format: 'qcow2', readOnly: true });
    const { runs } = await compareWalk(blk);
    expect(runs).toBeGreaterThan(1);
    // Host holes under data clusters read as zero: such runs always need the file's answer.
    const st = await blk.blockStatusAbove(8 << 20, 1 << 20);
    expect(st.zero).toBe(true);
    expect(blk.blockStatusAboveNow(8 << 20, 1 << 20)).toBeUndefined();
    await blk.close();
  });

  it('answers raw files from SEEK_DATA / SEEK_HOLE as blockStatus does', async () => {
    const f = tmp.path('sparse.raw');
    qemuImg('create', '-f', 'raw', f, '64M');
    execQemuIoRaw(f, ['write -P 0x66 0 1M', 'write -P 0x77 10M 2M']);
    const blk = await openImage({ filename: f, format: 'raw', readOnly: true });
    const { runs, now } = await compareWalk(blk);
    expect(runs).toBeGreaterThanOrEqual(4);
    // All but the hole that runs to EOF, which needs the file size.
    expect(now).toBe(runs - 1);
    await blk.close();
  });
});

function execQemuIoRaw(file: string, commands: string[]): void {
  const args = ['-f', 'raw'];
  for (const c of commands) args.push('-c', c);
  args.push(file);
  execFileSync('qemu-io', args, { stdio: 'ignore' });
}
