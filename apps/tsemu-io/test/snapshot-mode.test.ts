// -s / open -s (QEMU's snapshot=on): writes land in a temporary qcow2 overlay
// in $TMPDIR, unlinked as soon as it is open, and the image is never written.
// Each case runs under tsemu-io and qemu-io 7.2 on copies of the same images.
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { QEMU_IO, TSEMU_IO, maskTimings, run, sha256 } from './harness.js';

const root = mkdtempSync(join(tmpdir(), 'tsemu-io-snapshot-'));
const IMAGES = ['img.qcow2', 'img.raw'];

beforeAll(() => {
  const made = join(root, 'made');
  mkdirSync(made);
  const setup = (args: string[]): void => void expect(run(args[0]!, args.slice(1), made).code).toBe(0);
  setup(['qemu-img', 'create', '-q', '-f', 'qcow2', 'img.qcow2', '4M']);
  setup([QEMU_IO, '-c', 'write -P 0x61 0 64k', '-c', 'write -P 0x62 1M 4k', 'img.qcow2']);
  setup(['qemu-img', 'create', '-q', '-f', 'raw', 'img.raw', '4M']);
  setup([QEMU_IO, '-f', 'raw', '-c', 'write -P 0x63 0 4k', 'img.raw']);
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

const CASES: string[][] = [
  ['-s', '-c', 'info', '-c', 'map', '-c', 'write -P 9 0 4k', '-c', 'read -P 9 0 4k', '-c', 'map', '-c', 'read -v 1M 16', 'img.qcow2'],
  ['-s', '-f', 'raw', '-c', 'length', '-c', 'write -P 9 1 4k', '-c', 'read -v 0 8', 'img.raw'],
  ['-s', '-c', 'write -z 0 64k', '-c', 'discard 1M 64k', '-c', 'map', '-c', 'read -v 0 4', 'img.qcow2'],
  ['-s', '-r', '-c', 'write 0 1', 'img.raw'],
  ['-s', '--image-opts', '-c', 'write -P 5 1M 4k', '-c', 'read -v 1M 4', 'driver=qcow2,file.filename=img.qcow2'],
  ['-c', 'open -s img.qcow2', '-c', 'write -P 7 1M 4k', '-c', 'close', '-c', 'open img.qcow2', '-c', 'read -v 1M 4'],
  // reopen keeps the overlay unless the host file must be opened again by its (unlinked) name.
  ['-s', '-c', 'write -P 1 0 4k', '-c', 'reopen -c writeback', '-c', 'read -v 0 4', 'img.qcow2'],
  ['-s', '-c', 'write -P 1 0 4k', '-c', 'reopen -r', '-c', 'read -v 0 4', 'img.qcow2'],
  ['-s', '-c', 'write -P 1 0 4k', '-c', 'reopen -c none', '-c', 'read -v 0 4', 'img.qcow2'],
  ['-s', 'nosuch.qcow2'],
  // -U with -s: the image itself is opened read-only below the overlay, so qemu-io allows it.
  ['-U', '-s', '-c', 'write -P 3 0 4k', '-c', 'read -P 3 0 4k', 'img.qcow2'],
];

describe('snapshot mode (-s) as qemu-io 7.2', () => {
  it.each(CASES.map((c) => [c]))('%j', (args) => {
    const results = [QEMU_IO, TSEMU_IO].map((tool, i) => {
      const dir = join(root, `${i}-${Math.random().toString(36).slice(2)}`);
      const tmp = join(dir, 'tmp');
      mkdirSync(tmp, { recursive: true });
      for (const name of IMAGES) copyFileSync(join(root, 'made', name), join(dir, name));
      const r = run(tool, args, dir, undefined, { ...process.env, TMPDIR: tmp });
      const vl = (text: string): string => text.replaceAll(/'[^']*\/vl\.[\w-]{6}'/g, "'VL'");
      return {
        out: maskTimings(r.stdout), err: vl(r.stderr), code: r.code,
        images: IMAGES.map((n) => sha256(join(dir, n))), leftovers: readdirSync(tmp).filter((n) => n.startsWith('vl.')), // tsx keeps its cache there too
      };
    });
    expect(results[1]).toEqual(results[0]);
    expect(results[1]!.images).toEqual(IMAGES.map((n) => sha256(join(root, 'made', n))));
  });
});
