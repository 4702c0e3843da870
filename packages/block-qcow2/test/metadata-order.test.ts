// Metadata write-back ordering (Qcow2MetadataCache), seen from below: blkdebug
// with log=on records every write and flush the qcow2 node sends its file.
// Refcount blocks reach the file, and are flushed, before the L2 tables that
// use them; a new L2 table is flushed before its L1 entry; a refcount
// decrement follows the (flushed) L2 change that dropped the reference. And
// the durability promise: after flush() (writeback) or after each write
// (writethrough), a copy of the file as it is checks clean with the data there.
import { copyFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { blkdebugOf, createImage, openImage, type BlkdebugEvent, type BlockBackend } from '@tsemu/block-core';
import { Qcow2DriverState } from '@tsemu/block-qcow2';
import { makeTempDir, qemuImgStatus, qemuIo } from './helpers/tools.js';

const tmp = makeTempDir();
afterAll(() => tmp.cleanup());

const CS = 65536;
const REFBLOCK = 2 * CS; // qemu-img / tsemu create: header, refcount table, refcount block, L1
const L1 = 3 * CS;

async function openLogged(f: string, cache: 'writeback' | 'writethrough'): Promise<BlockBackend> {
  return openImage({
    filename: f, format: 'qcow2', cache, discard: 'unmap',
    options: { 'file.driver': 'blkdebug', 'file.image.filename': f, 'file.log': 'on' },
  });
}

function events(blk: BlockBackend): BlkdebugEvent[] {
  return blkdebugOf(blk.root)!.events;
}

function stateOf(blk: BlockBackend): Qcow2DriverState {
  return blk.root.state as Qcow2DriverState;
}

/** Index of the first event matching `pred` at or after `from` (-1 if none). */
function find(ev: BlkdebugEvent[], pred: (e: BlkdebugEvent) => boolean, from = 0): number {
  for (let i = from; i < ev.length; i++) if (pred(ev[i]!)) return i;
  return -1;
}

const writeIn = (start: number, len: number) => (e: BlkdebugEvent) => e.op === 'write' && e.offset >= start && e.offset < start + len;
const isFlush = (e: BlkdebugEvent) => e.op === 'flush';

/** A copy of the file as it is now (what a crash would leave), checked by qemu-img and read by qemu-io. */
function checkCopy(f: string, name: string, reads: string[]): void {
  const copy = tmp.path(name);
  copyFileSync(f, copy);
  const r = qemuImgStatus('check', copy);
  expect(r.status, r.stdout + r.stderr).toBe(0);
  qemuIo(copy, ...reads); // throws (exit 1) if a pattern does not match
}

describe('metadata write-back ordering', () => {
  it('writes no metadata for allocations until flush, then refcounts, a flush, and the L2 table', async () => {
    const f = tmp.path('order.qcow2');
    await createImage({ filename: f, format: 'qcow2', size: 64 << 20 });
    const blk = await openLogged(f, 'writeback');
    await blk.write(0, new Uint8Array(4096).fill(1)); // makes the L2 table
    await blk.flush();
    const l2 = stateOf(blk).image.map.l2Offset(0);
    expect(l2).toBeGreaterThan(L1);
    const ev = events(blk);
    ev.length = 0;
    for (let i = 1; i <= 16; i++) await blk.write(i * CS, new Uint8Array(4096).fill(i + 1));
    // Allocations touch only data clusters until the flush: each zeroed whole first (fallocate, as QEMU), then written.
    expect(ev.filter((e) => (e.op !== 'write' && e.op !== 'zeroes') || e.offset === REFBLOCK || e.offset === l2)).toEqual([]);
    expect(ev.filter((e) => e.op === 'write')).toHaveLength(16);
    expect(ev.filter((e) => e.op === 'zeroes').map((e) => e.length)).toEqual(Array(16).fill(CS));
    ev.length = 0;
    await blk.flush();
    const rc = find(ev, writeIn(REFBLOCK, CS));
    const fl = find(ev, isFlush, rc + 1);
    const tw = find(ev, writeIn(l2, CS));
    expect(rc).toBeGreaterThanOrEqual(0);
    expect(fl).toBeGreaterThan(rc);
    expect(tw).toBeGreaterThan(fl);
    // The generic layer's flush of the file comes last: all of it is stable.
    expect(ev[ev.length - 1]!.op).toBe('flush');
    checkCopy(f, 'order-copy.qcow2', Array.from({ length: 16 }, (_, i) => `read -P ${i + 2} ${(i + 1) * CS} 4k`));
    await blk.close();
  });

  it('flushes a new L2 table (after its refcount) before the L1 entry that names it', async () => {
    const f = tmp.path('newtable.qcow2');
    await createImage({ filename: f, format: 'qcow2', size: 64 << 20 });
    const blk = await openLogged(f, 'writeback');
    await blk.write(8 * CS, new Uint8Array(512).fill(7));
    const ev = events(blk);
    const l2 = stateOf(blk).image.map.l2Offset(0);
    const rc = find(ev, writeIn(REFBLOCK, CS));
    const tw = find(ev, (e) => e.op === 'write' && e.offset === l2 && e.length === CS);
    const l1w = find(ev, writeIn(L1, CS));
    expect(rc).toBeGreaterThanOrEqual(0);
    expect(find(ev, isFlush, rc + 1)).toBeLessThan(tw);
    expect(tw).toBeGreaterThan(rc);
    const fl = find(ev, isFlush, tw + 1);
    expect(fl).toBeGreaterThan(tw);
    expect(l1w).toBeGreaterThan(fl);
    await blk.close();
  });

  it('writes a refcount decrement only after the flushed L2 change that dropped the reference', async () => {
    const f = tmp.path('discard.qcow2');
    await createImage({ filename: f, format: 'qcow2', size: 64 << 20 });
    const blk = await openLogged(f, 'writeback');
    await blk.write(0, new Uint8Array(4 * CS).fill(3));
    await blk.flush();
    const l2 = stateOf(blk).image.map.l2Offset(0);
    const ev = events(blk);
    ev.length = 0;
    await blk.discard(CS, CS);
    await blk.flush();
    const tw = find(ev, writeIn(l2, CS));
    const fl = find(ev, isFlush, tw + 1);
    const rc = find(ev, writeIn(REFBLOCK, CS));
    expect(tw).toBeGreaterThanOrEqual(0);
    expect(fl).toBeGreaterThan(tw);
    expect(rc).toBeGreaterThan(fl);
    await blk.close();
    expect(qemuImgStatus('check', f).status).toBe(0);
  });
});

describe('durability', () => {
  it('cache=writethrough: every acknowledged allocating write is stable when it returns', async () => {
    const f = tmp.path('wt.qcow2');
    await createImage({ filename: f, format: 'qcow2', size: 64 << 20, options: { cluster_size: '4096' } });
    const blk = await openLogged(f, 'writethrough');
    const reads: string[] = [];
    for (let i = 0; i < 6; i++) {
      const off = i * 3 * 1048576 + 512 * i;
      await blk.write(off, new Uint8Array(3000).fill(0x40 + i));
      reads.push(`read -P ${0x40 + i} ${off} 3000`);
      const ev = events(blk);
      expect(ev[ev.length - 1]!.op).toBe('flush');
      // No flush in between: the file as it is now is what survives a crash.
      checkCopy(f, `wt-copy-${i}.qcow2`, reads);
    }
    await blk.close();
  });

  it('cache=writeback: before flush a crash image has at most leaks; after flush everything is there', async () => {
    const f = tmp.path('wb.qcow2');
    await createImage({ filename: f, format: 'qcow2', size: 64 << 20, options: { cluster_size: '4096' } });
    const blk = await openLogged(f, 'writeback');
    const reads: string[] = [];
    for (let i = 0; i < 40; i++) {
      const off = ((i * 7919) % 16000) * 4096;
      await blk.write(off, new Uint8Array(4096).fill(i + 1));
      reads.push(`read -P ${i + 1} ${off} 4k`);
      if (i % 10 === 5) {
        const copy = tmp.path(`wb-mid-${i}.qcow2`);
        copyFileSync(f, copy);
        expect([0, 3]).toContain(qemuImgStatus('check', copy).status);
      }
    }
    await blk.flush();
    checkCopy(f, 'wb-copy.qcow2', reads);
    await blk.close();
  });
});

describe('free-cluster search', () => {
  it('resumes after the last allocation, and reuses a cluster freed before it', async () => {
    const f = tmp.path('hint.qcow2');
    await createImage({ filename: f, format: 'qcow2', size: 64 << 20 });
    const blk = await openLogged(f, 'writeback');
    const hostOf = async (guest: number): Promise<number> => (await blk.blockStatus(guest, CS)).offset!;
    for (let i = 0; i < 8; i++) await blk.write(i * CS, new Uint8Array(CS).fill(i + 1));
    const hosts = await Promise.all(Array.from({ length: 8 }, (_, i) => hostOf(i * CS)));
    for (let i = 1; i < 8; i++) expect(hosts[i]).toBe(hosts[i - 1]! + CS); // each allocation right after the last
    await blk.discard(2 * CS, CS);
    await blk.flush(); // the deferred free is released
    await blk.write(20 * CS, new Uint8Array(CS).fill(9));
    expect(await hostOf(20 * CS)).toBe(hosts[2]);
    await blk.write(21 * CS, new Uint8Array(CS).fill(10));
    expect(await hostOf(21 * CS)).toBe(hosts[7]! + CS);
    await blk.close();
    expect(qemuImgStatus('check', f).status).toBe(0);
  });
});

describe('lazy_refcounts=on', () => {
  const DIRTY_FIELD = 72; // incompatible_features
  const isDirtyWrite = (e: BlkdebugEvent) => e.op === 'write' && e.offset === DIRTY_FIELD;

  it('sets the dirty bit before the first L2 change, leaves refcounts to close, and closes clean', async () => {
    const f = tmp.path('lazy.qcow2');
    await createImage({ filename: f, format: 'qcow2', size: 64 << 20, options: { lazy_refcounts: 'on' } });
    const blk = await openLogged(f, 'writeback');
    const ev = events(blk);
    await blk.write(0, new Uint8Array(4096).fill(1)); // makes the L2 table: the first L1 change
    const dirty = find(ev, isDirtyWrite);
    expect(dirty).toBeGreaterThanOrEqual(0);
    // The dirty bit is stable before anything the L1 table names.
    expect(find(ev, isFlush, dirty + 1)).toBeGreaterThan(dirty);
    expect(find(ev, writeIn(L1, CS))).toBeGreaterThan(find(ev, isFlush, dirty + 1));
    expect(stateOf(blk).info().dirty).toBe(true);
    const l2 = stateOf(blk).image.map.l2Offset(0);
    for (let i = 1; i <= 16; i++) await blk.write(i * CS, new Uint8Array(4096).fill(i + 1));
    ev.length = 0;
    await blk.flush();
    // A flush writes the L2 table and no refcount block (QEMU's qcow2_write_caches on a dirty image).
    expect(find(ev, writeIn(l2, CS))).toBeGreaterThanOrEqual(0);
    expect(find(ev, writeIn(REFBLOCK, CS))).toBe(-1);
    expect(find(ev, isDirtyWrite)).toBe(-1);
    // A crash now: refcounts behind, the dirty bit tells QEMU; check -r all repairs it, data intact.
    const copy = tmp.path('lazy-copy.qcow2');
    copyFileSync(f, copy);
    const dirtyCheck = qemuImgStatus('check', copy);
    expect(dirtyCheck.status, dirtyCheck.stdout).toBe(2);
    expect(dirtyCheck.stdout + dirtyCheck.stderr).toMatch(/ERROR cluster \d+ refcount=0 reference=1/);
    expect(qemuImgStatus('check', '-r', 'all', copy).status).toBe(0);
    qemuIo(copy, ...Array.from({ length: 16 }, (_, i) => `read -P ${i + 2} ${(i + 1) * CS} 4k`));
    ev.length = 0;
    await blk.close();
    // Close: refcounts written, flushed, then the dirty bit cleared (and flushed).
    const rc = find(ev, writeIn(REFBLOCK, CS));
    const clean = find(ev, isDirtyWrite);
    expect(rc).toBeGreaterThanOrEqual(0);
    expect(clean).toBeGreaterThan(find(ev, isFlush, rc + 1));
    expect(qemuImgStatus('check', f).status).toBe(0);
    expect(qemuImgStatus('info', f).stdout).toContain('lazy refcounts: true');
  });

  it('keeps strict ordering with the lazy-refcounts=off open option, and refuses it on for compat=0.10', async () => {
    const f = tmp.path('lazy-off.qcow2');
    await createImage({ filename: f, format: 'qcow2', size: 64 << 20, options: { lazy_refcounts: 'on' } });
    const blk = await openImage({
      filename: f, format: 'qcow2',
      options: { 'lazy-refcounts': 'off', 'file.driver': 'blkdebug', 'file.image.filename': f, 'file.log': 'on' },
    });
    await blk.write(0, new Uint8Array(4096).fill(1));
    await blk.flush();
    expect(find(events(blk), isDirtyWrite)).toBe(-1);
    await blk.close();
    const v2 = tmp.path('lazy-v2.qcow2');
    await createImage({ filename: v2, format: 'qcow2', size: 1 << 20, options: { compat: '0.10' } });
    await expect(openImage({ filename: v2, format: 'qcow2', options: { 'lazy-refcounts': 'on' } }))
      .rejects.toThrow('Lazy refcounts require a qcow2 image with at least qemu 1.1 compatibility level');
  });
});
