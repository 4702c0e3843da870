// Internal snapshots made by tsemu: qemu-img lists them, reads them
// (convert -l) and checks the image clean; tsemu reads qemu-img's.
import { readFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { afterAll, describe, expect, it } from 'vitest';
import { createImage, openImage, type BlockBackend } from '@tsemu/block-core';
import type { Qcow2DriverState } from '@tsemu/block-qcow2';
import { firstDiff, readAll, readAllQemu } from './helpers/images.js';
import { expectCleanCheck, makeTempDir, qemuImg, qemuIo } from './helpers/tools.js';

const tmp = makeTempDir();
afterAll(() => tmp.cleanup());

function snaps(blk: BlockBackend) {
  return (blk.root.state as unknown as Qcow2DriverState).snapshots;
}

function snapshotContent(file: string, name: string): Uint8Array {
  const raw = tmp.path(`${name}.snap.raw`);
  execFileSync('qemu-img', ['convert', '-l', `snapshot.name=${name}`, '-O', 'raw', file, raw]);
  return new Uint8Array(readFileSync(raw));
}

describe('internal snapshots', () => {
  it('reads the table qemu-img writes', async () => {
    const f = tmp.path('q.qcow2');
    qemuImg('create', '-f', 'qcow2', f, '4M');
    qemuImg('snapshot', '-c', 'snap1', f);
    const q = JSON.parse(qemuImg('info', '--output=json', f)).snapshots[0];
    const blk = await openImage({ filename: f, format: 'qcow2', readOnly: true });
    const [s] = await snaps(blk).list();
    await blk.close();
    expect({ id: s!.id, name: s!.name, dateSec: s!.dateSec, dateNsec: s!.dateNsec, vmStateSize: s!.vmStateSize })
      .toEqual({ id: q.id, name: q.name, dateSec: q['date-sec'], dateNsec: q['date-nsec'], vmStateSize: q['vm-state-size'] });
    expect(Number(s!.vmClockNsec)).toBe(q['vm-clock-sec'] * 1e9 + q['vm-clock-nsec']);
  });

  for (const cs of ['512', '65536']) {
    it(`creates, applies and deletes snapshots qemu-img agrees with (cluster_size=${cs})`, async () => {
      const f = tmp.path(`s-${cs}.qcow2`);
      await createImage({ filename: f, format: 'qcow2', size: 4 << 20, options: { cluster_size: cs } });
      qemuIo(f, 'write -c -P 0x0c 3M 64k');
      const blk = await openImage({ filename: f, format: 'qcow2' });
      await blk.write(0, new Uint8Array(200_000).fill(0xa1));
      const stateA = await readAll(blk);
      await snaps(blk).create('one');
      await blk.write(100_000, new Uint8Array(300_000).fill(0xb2));
      await blk.write((3 << 20) + 10, new Uint8Array(10).fill(0xb3));
      const stateB = await readAll(blk);
      await snaps(blk).create('two');
      await blk.write(50_000, new Uint8Array(1 << 20).fill(0xc3));
      await blk.writeZeroes(0, 64 << 10);
      const stateC = await readAll(blk);
      await blk.close();

      expectCleanCheck(f);
      const listed = JSON.parse(qemuImg('info', '--output=json', f)).snapshots as Array<Record<string, unknown>>;
      expect(listed.map((s) => [s.id, s.name, s.icount, s['vm-state-size']])).toEqual([['1', 'one', 0, 0], ['2', 'two', 0, 0]]);
      expect(firstDiff(snapshotContent(f, 'one'), stateA)).toBe(-1);
      expect(firstDiff(snapshotContent(f, 'two'), stateB)).toBe(-1);
      expect(firstDiff(readAllQemu(f, tmp.path('c.raw')), stateC)).toBe(-1);

      const blk2 = await openImage({ filename: f, format: 'qcow2' });
      await snaps(blk2).apply('one');
      expect(firstDiff(await readAll(blk2), stateA)).toBe(-1);
      await snaps(blk2).delete('2');
      await expect(snaps(blk2).delete('nope')).rejects.toThrow("Can't find snapshot 'nope'");
      await blk2.write(0, new Uint8Array(5000).fill(0xd4));
      stateA.fill(0xd4, 0, 5000);
      await blk2.close();
      expectCleanCheck(f);
      expect(JSON.parse(qemuImg('info', '--output=json', f)).snapshots.map((s: { name: string }) => s.name)).toEqual(['one']);
      expect(firstDiff(readAllQemu(f, tmp.path('a.raw')), stateA)).toBe(-1);
      qemuImg('snapshot', '-d', 'one', f);
      expectCleanCheck(f);
    });
  }
});
