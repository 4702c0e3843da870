// Snapshot create / apply / delete interleaved with writes, through tsemu-img
// and tsemu-io on one image and qemu-img and qemu-io 7.2 on another: once the
// last snapshot is deleted (so no creation date remains) the files are byte
// for byte the same. This pins QEMU's QCOW2_DISCARD_SNAPSHOT (clusters freed
// by snapshot operations are discarded in the file, pass-discard-snapshot is
// on by default) and goto's rewrite of the snapshot's L1 COPIED flags.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run, sha256, SideBySide, TSEMU_IMG } from './harness.js';

const TSEMU_IO = new URL('../../../node_modules/.bin/tsemu-io', import.meta.url).pathname;
let w: SideBySide;

beforeAll(() => {
  w = new SideBySide();
});
afterAll(() => w.cleanup());

const SEQUENCES: string[][] = [
  ['c s1', 'w 0x11 0 128k', 'c s2', 'a s1', 'w 0x22 64k 64k', 'd s1', 'd s2'],
  ['c s1', 'w 0x33 1M 1M', 'd s1'],
  ['c s1', 'c s2', 'w 0x44 0 2M', 'a s2', 'd s2', 'd s1'],
  ['c s1', 'z 0 1M', 'a s1', 'd s1'],
];

function step(dir: string, tools: { img: string; io: string }, s: string, name: string): void {
  const [k, a, b, c] = s.split(' ');
  const args = k === 'w' ? ['-c', `write -P ${a} ${b} ${c}`, name] : k === 'z' ? ['-c', `write -z -u ${a} ${b}`, name]
    : ['snapshot', k === 'c' ? '-c' : k === 'a' ? '-a' : '-d', a!, name];
  const r = run(k === 'w' || k === 'z' ? tools.io : tools.img, args, dir);
  expect(r.code, `${s}: ${r.stderr}`).toBe(0);
}

describe('snapshot operations leave qemu-img\'s bytes', () => {
  it.each(SEQUENCES.map((s, i) => [i, s] as const))('sequence %i: %j', (i, seq) => {
    const name = `s${i}.qcow2`;
    w.both('qemu-img', ['create', '-q', '-f', 'qcow2', name, '4M']);
    w.both('qemu-io', ['-c', 'write -P 0x61 0 1M', '-c', 'write -P 0x62 2M 64k', name]);
    for (const s of seq) {
      step(w.q, { img: 'qemu-img', io: 'qemu-io' }, s, name);
      step(w.t, { img: TSEMU_IMG, io: TSEMU_IO }, s, name);
    }
    expect(sha256(`${w.t}/${name}`)).toBe(sha256(`${w.q}/${name}`));
  });
});
