// tsemu-img check [-r leaks|all] against qemu-img 7.2 on identically
// corrupted qcow2 images: same stdout (human and JSON), same stderr lines in
// the same order, same exit status; after a repair, the same image (qemu-img
// check / map of both, and the files byte for byte apart from clusters
// qemu-img punched).
import { closeSync, copyFileSync, openSync, readFileSync, readSync, writeSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SideBySide, type RunResult } from './harness.js';
import { CORRUPTIONS, corrupt, firstRealDifference, type Corruption } from './qcow2-image-compare.js';
import { must, spawn, tsemuImg } from './qcow2-harness.js';

let w: SideBySide;

beforeAll(() => {
  w = new SideBySide();
  must('qemu-img', ['create', '-f', 'qcow2', 'base.qcow2', '64M'], w.q);
  // Data in clusters 0-3 of the guest, one compressed cluster at 1 MiB, one more at 2 MiB.
  must('qemu-io', ['-f', 'qcow2', '-c', 'write -P 1 0 256k', '-c', 'write -c 1M 64k', '-c', 'write -P 3 2M 64k', 'base.qcow2'], w.q);
  // The same, with an internal snapshot: clusters with refcount 2.
  copyFileSync(`${w.q}/base.qcow2`, `${w.q}/snap.qcow2`);
  must('qemu-img', ['snapshot', '-c', 's1', 'snap.qcow2'], w.q);
  must('qemu-io', ['-f', 'qcow2', '-c', 'write -P 4 64k 64k', 'snap.qcow2'], w.q);
});

afterAll(() => w.cleanup());

/** The corrupted image in both directories, under the same name. */
function fixture(kind: Corruption, name: string, from = 'base.qcow2'): void {
  corrupt(`${w.q}/${from}`, kind, `${w.q}/${name}`);
  copyFileSync(`${w.q}/${name}`, `${w.t}/${name}`);
}

async function both(args: string[]): Promise<{ qemu: RunResult; tsemu: RunResult }> {
  const qemu = spawn('qemu-img', args, w.q);
  const tsemu = await tsemuImg(args, w.t);
  return { qemu, tsemu };
}

/** After a repair: qemu-img sees the same image on both sides. */
function expectSameImage(name: string): void {
  for (const args of [['check', '--output=json', name], ['map', '--output=json', name]]) {
    expect(spawn('qemu-img', args, w.t), args.join(' ')).toEqual(spawn('qemu-img', args, w.q));
  }
  expect(firstRealDifference(`${w.q}/${name}`, `${w.t}/${name}`), `first differing cluster of ${name}`).toBe(-1);
}

describe('check on corrupted images', () => {
  const cases: Array<[Corruption, string]> = [];
  for (const kind of CORRUPTIONS) for (const mode of ['none', 'leaks', 'all']) cases.push([kind, mode]);

  it.each(cases)('%s, -r %s: same report, stderr lines, exit status and resulting image', async (kind, mode) => {
    const name = `${kind}-${mode}.qcow2`;
    fixture(kind, name);
    const args = mode === 'none' ? ['check', name] : ['check', '-r', mode, name];
    const { qemu, tsemu } = await both(args);
    expect(tsemu).toEqual(qemu);
    expectSameImage(name);
  });

  it.each(['refcount-zero', 'leak', 'refcount-low', 'past-eof', 'refblock-over-l1'] as Corruption[])(
    '%s: --output=json, plain and with -r all', async (kind) => {
      for (const extra of [[], ['-r', 'all']]) {
        const name = `${kind}-json${extra.length}.qcow2`;
        fixture(kind, name);
        const { qemu, tsemu } = await both(['check', '--output=json', ...extra, name]);
        expect(tsemu).toEqual(qemu);
        expectSameImage(name);
      }
    });

  it.each(['leak', 'refcount-zero', 'copied-l2', 'refcount-low'] as Corruption[])(
    '%s in an image with an internal snapshot', async (kind) => {
      for (const mode of ['none', 'leaks', 'all']) {
        const name = `snap-${kind}-${mode}.qcow2`;
        fixture(kind, name, 'snap.qcow2');
        const { qemu, tsemu } = await both(mode === 'none' ? ['check', name] : ['check', '-r', mode, name]);
        expect(tsemu).toEqual(qemu);
        expectSameImage(name);
      }
    });

  it('-q prints nothing on stdout but keeps the lines and the status', async () => {
    fixture('refcount-zero', 'quiet.qcow2');
    const { qemu, tsemu } = await both(['check', '-q', '-r', 'all', 'quiet.qcow2']);
    expect(qemu.stdout).toBe('');
    expect(tsemu).toEqual(qemu);
    expectSameImage('quiet.qcow2');
  });
});

describe('check on a dirty lazy-refcounts image (the open does not repair it first: BDRV_O_CHECK)', () => {
  /** A lazy_refcounts image, the dirty bit set and refcounts behind the L2 tables, as after a crash. */
  function dirtyFixture(kind: Corruption, name: string): void {
    must('qemu-img', ['create', '-f', 'qcow2', '-o', 'lazy_refcounts=on', `lazy-${name}`, '64M'], w.q);
    must('qemu-io', ['-f', 'qcow2', '-c', 'write -P 1 0 256k', '-c', 'write -P 3 2M 64k', `lazy-${name}`], w.q);
    corrupt(`${w.q}/lazy-${name}`, kind, `${w.q}/${name}`);
    const fd = openSync(`${w.q}/${name}`, 'r+');
    const bits = Buffer.alloc(8);
    readSync(fd, bits, 0, 8, 72);
    bits[7]! |= 1; // incompatible feature bit 0: dirty
    writeSync(fd, bits, 0, 8, 72);
    closeSync(fd);
    copyFileSync(`${w.q}/${name}`, `${w.t}/${name}`);
  }

  it.each(['refcount-zero', 'refcount-low', 'leak'] as Corruption[])('%s: check, then check -r all', async (kind) => {
    for (const mode of ['none', 'all']) {
      const name = `dirty-${kind}-${mode}.qcow2`;
      dirtyFixture(kind, name);
      const { qemu, tsemu } = await both(mode === 'none' ? ['check', name] : ['check', '-r', mode, name]);
      expect(tsemu).toEqual(qemu);
      expectSameImage(name);
      // The headers agree afterwards (dirty bit included); actual-size depends on which clusters each side punched.
      const info = (dir: string): unknown => {
        const j = JSON.parse(spawn('qemu-img', ['info', '--output=json', name], dir).stdout) as Record<string, unknown>;
        delete j['actual-size'];
        return j;
      };
      expect(info(w.t)).toEqual(info(w.q));
      const header = (dir: string): string => readFileSync(`${dir}/${name}`).subarray(0, 104).toString('hex');
      expect(header(w.t)).toBe(header(w.q));
    }
  });
});
