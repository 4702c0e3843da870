// Damaged snapshot tables against qemu-img 7.2: bad L1 offsets and sizes of
// a snapshot, a snapshot count that overruns the table (entries read as
// zeroes past the end of the file: "incomplete"), a table past the end of
// the file, oversized extra data, and header values open refuses. Same
// stdout, stderr and exit status for info / snapshot -l / check -r
// none|leaks|all, and the same file after a repair (apart from clusters
// qemu-img punched).
import { copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SideBySide } from './harness.js';
import { firstRealDifference } from './qcow2-image-compare.js';
import { must, spawn, tsemuImg } from './qcow2-harness.js';

let w: SideBySide;
/** Byte offsets of the two snapshot table entries of base.qcow2. */
let entries: number[] = [];
let table = 0;

beforeAll(() => {
  w = new SideBySide();
  must('qemu-img', ['create', '-f', 'qcow2', 'base.qcow2', '4M'], w.q);
  must('qemu-io', ['-f', 'qcow2', '-c', 'write -P 1 0 128k', 'base.qcow2'], w.q);
  must('qemu-img', ['snapshot', '-c', 'first', 'base.qcow2'], w.q);
  must('qemu-img', ['snapshot', '-c', 'second', 'base.qcow2'], w.q);
  must('qemu-io', ['-f', 'qcow2', '-c', 'write -P 2 0 64k', 'base.qcow2'], w.q);
  const dv = new DataView(readFileSync(`${w.q}/base.qcow2`).buffer.slice(0));
  table = Number(dv.getBigUint64(64));
  entries = [table];
  const first = 40 + dv.getUint32(table + 36) + dv.getUint16(table + 12) + dv.getUint16(table + 14);
  entries.push(table + ((first + 7) & ~7));
});

afterAll(() => w.cleanup());

type Edit = (dv: DataView) => void;
const CASES: Array<[string, Edit]> = [
  ['count-3', (dv) => dv.setUint32(60, 3)],
  ['count-40', (dv) => dv.setUint32(60, 40)],
  ['table-past-eof', (dv) => dv.setBigUint64(64, 1000n * 65536n)],
  ['l1-unaligned', (dv) => dv.setBigUint64(entries[1]!, dv.getBigUint64(entries[1]!) + 512n)],
  ['l1-too-large', (dv) => dv.setUint32(entries[0]! + 8, 0x400001)],
  ['l1-larger', (dv) => dv.setUint32(entries[0]! + 8, 0x2000)],
  ['l1-past-eof', (dv) => dv.setBigUint64(entries[0]!, 500n * 65536n)],
  ['l1-zero', (dv) => dv.setBigUint64(entries[0]!, 0n)],
  // Within the caps, but the following fields are read from the wrong place (ids and names with NULs).
  ['extra-1000', (dv) => dv.setUint32(entries[1]! + 36, 1000)],
  ['id-60000', (dv) => dv.setUint16(entries[1]! + 12, 60000)],
];

function image(name: string, edit: Edit): void {
  const bytes = new Uint8Array(readFileSync(`${w.q}/base.qcow2`));
  edit(new DataView(bytes.buffer));
  writeFileSync(`${w.q}/${name}`, bytes);
  copyFileSync(`${w.q}/${name}`, `${w.t}/${name}`);
}

async function expectSame(args: string[], name: string): Promise<void> {
  const qemu = spawn('qemu-img', args, w.q);
  const tsemu = await tsemuImg(args, w.t);
  expect(tsemu, args.join(' ')).toEqual(qemu);
  expect(firstRealDifference(`${w.q}/${name}`, `${w.t}/${name}`), `first differing cluster of ${name}`).toBe(-1);
}

describe('damaged snapshot tables', () => {
  it.each(CASES)('%s: info, snapshot -l, check -r none|leaks|all', async (kind, edit) => {
    for (const args of [['info'], ['snapshot', '-l'], ['check'], ['check', '--output=json'], ['check', '-r', 'leaks'], ['check', '-r', 'all']]) {
      const name = `${kind}-${args.join('')}.qcow2`;
      image(name, edit);
      await expectSame([...args, name], name);
      if (args.includes('all')) await expectSame(['check', name], name); // the repaired image
    }
  });

  it('incomplete entries are reported, and -r all rewrites them complete', async () => {
    image('inc.qcow2', CASES[0]![1]);
    const q = spawn('qemu-img', ['check', 'inc.qcow2'], w.q);
    expect(q.stderr).toContain('ERROR snapshot table entry 2 is incomplete');
    await expectSame(['check', '-r', 'all', 'inc.qcow2'], 'inc.qcow2');
    expect(spawn('qemu-img', ['check', 'inc.qcow2'], w.t)).toEqual(spawn('qemu-img', ['check', 'inc.qcow2'], w.q));
  });

  it('oversized extra data: check fails with qemu-img\'s lines, -r all cuts it to 1 KiB', async () => {
    for (const args of [['check'], ['check', '-r', 'leaks'], ['check', '--output=json'], ['check', '-r', 'all']]) {
      const name = `extra-${args.length}.qcow2`;
      image(name, (dv) => dv.setUint32(entries[0]! + 36, 1025));
      await expectSame([...args, name], name);
    }
  });

  it('header values open refuses: unaligned table offset (also with no snapshots), too many snapshots', async () => {
    image('unaligned.qcow2', (dv) => dv.setBigUint64(64, BigInt(table + 8)));
    image('unaligned0.qcow2', (dv) => { dv.setUint32(60, 0); dv.setBigUint64(64, BigInt(table + 8)); });
    image('toomany.qcow2', (dv) => dv.setUint32(60, 65537));
    for (const name of ['unaligned.qcow2', 'unaligned0.qcow2', 'toomany.qcow2']) {
      await expectSame(['info', name], name);
      await expectSame(['snapshot', '-l', name], name);
    }
  });
});
