// amend -o compat=0.10 of images whose zero clusters sit in L2 tables shared
// with snapshots, or only in snapshots: both tools downgrade them, to the same
// bytes as qemu-img 7.2 (zeroed clusters in place, new ones over a backing
// file with the sharing L2 table's refcount), and every snapshot keeps its
// content. The one departure: qemu-img zeroes a cluster a snapshot still
// reads as data (the snapshot changes, and its check reports the entry).
import { copyFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SideBySide, run, sha256 } from './harness.js';

let w: SideBySide;

/** Images built by qemu-img / qemu-io, the same in both directories. */
const IMAGES: Record<string, string[][]> = {
  // Zero clusters, with and without a host cluster, in an L2 table the snapshot shares; a backing file.
  shared: [
    ['qemu-img', 'create', '-q', '-f', 'qcow2', '-b', 'base.qcow2', '-F', 'qcow2', 'shared.qcow2'],
    ['qemu-io', '-c', 'write -P 2 0 128k', '-c', 'write -z 64k 64k', '-c', 'write -z 1M 128k', 'shared.qcow2'],
    ['qemu-img', 'snapshot', '-c', 's1', 'shared.qcow2'],
  ],
  // No backing file: zero clusters without a host cluster just go.
  nobacking: [
    ['qemu-img', 'create', '-q', '-f', 'qcow2', 'nobacking.qcow2', '4M'],
    ['qemu-io', '-c', 'write -P 3 0 256k', '-c', 'write -z 64k 64k', '-c', 'write -z 512k 64k', 'nobacking.qcow2'],
    ['qemu-img', 'snapshot', '-c', 's1', 'nobacking.qcow2'],
  ],
  // The active L2 table copied after the snapshot: zero clusters in both the active and the snapshot's own table.
  split: [
    ['qemu-img', 'create', '-q', '-f', 'qcow2', '-b', 'base.qcow2', '-F', 'qcow2', 'split.qcow2'],
    ['qemu-io', '-c', 'write -z 0 64k', '-c', 'write -z 192k 64k', 'split.qcow2'],
    ['qemu-img', 'snapshot', '-c', 's1', 'split.qcow2'],
    ['qemu-io', '-c', 'write -P 6 1M 64k', '-c', 'write -z 2M 64k', 'split.qcow2'],
  ],
  // A zero cluster over data a snapshot still reads (qemu-img zeroes that data, and marks the entry COPIED).
  shareddata: [
    ['qemu-img', 'create', '-q', '-f', 'qcow2', 'shareddata.qcow2', '4M'],
    ['qemu-io', '-c', 'write -P 4 0 256k', 'shareddata.qcow2'],
    ['qemu-img', 'snapshot', '-c', 's1', 'shareddata.qcow2'],
    ['qemu-io', '-c', 'write -P 5 1M 64k', '-c', 'write -z 0 64k', '-c', 'write -z 2M 64k', 'shareddata.qcow2'],
  ],
};

beforeAll(() => {
  w = new SideBySide();
  const steps = [['qemu-img', 'create', '-q', '-f', 'qcow2', 'base.qcow2', '4M'], ['qemu-io', '-c', 'write -P 1 0 4M', 'base.qcow2'], ...Object.values(IMAGES).flat()];
  for (const [bin, ...args] of steps) {
    const r = run(bin!, args, w.q);
    if (r.code !== 0) throw new Error(`${bin} ${args.join(' ')}: ${r.stderr}`);
  }
  // Copies, not a second build: snapshot entries hold the time they were taken.
  for (const name of ['base', ...Object.keys(IMAGES)]) copyFileSync(`${w.q}/${name}.qcow2`, `${w.t}/${name}.qcow2`);
});

afterAll(() => w.cleanup());

/** What a guest sees: the active image and snapshot s1, as raw bytes. */
function contents(dir: string, image: string): string[] {
  const out: string[] = [];
  for (const extra of [[], ['-l', 's1']]) {
    const r = run('qemu-img', ['convert', ...extra, '-O', 'raw', image, `${image}.raw`], dir);
    expect(r.stderr).toBe('');
    out.push(sha256(`${dir}/${image}.raw`));
  }
  return out;
}

describe('amend -o compat=0.10 with zero clusters in snapshots', () => {
  it.each(Object.keys(IMAGES))('%s: downgraded as qemu-img does, clean, content kept', (name) => {
    const image = `${name}.qcow2`;
    const before = contents(w.t, image);
    const { qemu, tsemu } = w.compare(['amend', '-o', 'compat=0.10', image]);
    expect(tsemu).toEqual(qemu);
    expect(tsemu.code).toBe(0);
    expect(run('qemu-img', ['check', image], w.t).code).toBe(0);
    expect(contents(w.t, image)).toEqual(before);
    expect(run('qemu-img', ['info', '--output=json', image], w.t).stdout).toContain('"compat": "0.10"');
    if (name === 'shareddata') {
      // qemu-img 7.2's result: the snapshot's data zeroed, and a COPIED flag on a cluster of refcount 2.
      const check = run('qemu-img', ['check', image], w.q);
      expect(check.stdout + check.stderr).toContain('ERROR OFLAG_COPIED data cluster');
      expect(contents(w.q, image)[1]).not.toBe(before[1]);
    } else {
      expect(sha256(`${w.t}/${image}`)).toBe(sha256(`${w.q}/${image}`));
    }
  });
});
