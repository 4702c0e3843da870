// Image sizes near and past 2^53 against qemu-img 7.2: the exact size in
// the Formatting line, qemu-img's refusals ("The image size is too large
// for file format ..."), the qcow2 L1 table limit (32 MiB) at create and
// measure, and which files are left behind. qcow2 images past 2^53 that
// qemu-img would make are not covered (tsemu's sizes are doubles).
import { existsSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SideBySide } from './harness.js';
import { spawn, tsemuImg } from './qcow2-harness.js';

let w: SideBySide;

beforeAll(() => {
  w = new SideBySide();
});

afterAll(() => w.cleanup());

describe('sizes beyond what the host or the format takes', () => {
  let n = 0;
  it.each([
    [['-f', 'raw'], '1E'],
    [['-f', 'raw'], '1.5E'],
    [['-f', 'raw'], '9007199254740993'],
    [['-f', 'raw'], '100T'],
    [['-q', '-f', 'raw'], '1E'],
    [['-f', 'file'], '1E'],
    [['-f', 'qcow2'], '1E'],
    [['-f', 'qcow2'], '3P'],
    [['-f', 'qcow2', '-o', 'cluster_size=2M'], '3E'],
    [['-f', 'qcow2', '-o', 'cluster_size=2M'], '8191P'],
    [['-f', 'qcow2', '-o', 'cluster_size=512'], '100T'],
    [['-f', 'qcow2'], '8E'],
  ])('create %j %s', async (opts, size) => {
    const name = `h${n++}.img`;
    const args = ['create', ...opts, name, size];
    const qemu = spawn('qemu-img', args, w.q);
    expect(await tsemuImg(args, w.t)).toEqual(qemu);
    expect(existsSync(`${w.t}/${name}`)).toBe(existsSync(`${w.q}/${name}`));
  });

  it('create -o size= past 2^53', async () => {
    const args = ['create', '-f', 'raw', '-o', 'size=1E', 'o.raw'];
    expect(await tsemuImg(args, w.t)).toEqual(spawn('qemu-img', args, w.q));
  });

  it.each([
    [['--size', '3P']],
    [['--size', '3P', '--output=json']],
    [['--size', '2P']],
    [['--size', '3E', '-o', 'cluster_size=2M']],
    [['--size', '2E', '-o', 'cluster_size=2M']],
    [['--size', '1E', '-o', 'cluster_size=2M', '--output=json']],
    [['--size', '3P', '-o', 'cluster_size=2M,extended_l2=on']],
    [['--size', '1E', '-o', 'cluster_size=2M,extended_l2=on']],
  ])('measure -O qcow2 %j', async (opts) => {
    const args = ['measure', '-O', 'qcow2', ...opts];
    expect(await tsemuImg(args, w.t)).toEqual(spawn('qemu-img', args, w.q));
  });
});
