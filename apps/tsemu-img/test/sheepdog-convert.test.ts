// Issue 5, proof 3 (tsemu-img half): convert raw/qcow2 <-> sheepdog (and a
// compressed qcow2 target), checked with the real qemu-img on the file side
// (compare, check) and tsemu-img compare on the sheepdog side; info on a
// sheepdog name. The peer runs in this process; tsemu-img runs through its
// library (the bin's main), so both share the event loop.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SheepdogTestServer } from '@tsemu/sheepdog-testd';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tsemuImg } from './qcow2-harness.js';

const MiB = 1 << 20;
let dir: string;
let peer: SheepdogTestServer;
let source: Buffer;

/** xorshift bytes: distinct, reproducible data. */
function pattern(length: number, seed: number): Buffer {
  const buf = Buffer.alloc(length);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < length; i++) {
    x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0;
    buf[i] = x & 0xff;
  }
  return buf;
}

function qemuImg(args: string[]): { code: number; stdout: string; stderr: string } {
  const r = spawnSync('qemu-img', args, { cwd: dir, encoding: 'utf8' });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'tsemu-img-sheepconv-'));
  peer = await SheepdogTestServer.start({ dir: join(dir, 'sheep') });
  // 24 MiB: data straddling objects 0-2 at odd offsets, object 3 a hole, a
  // compressible run in object 4, random bytes at the very end (object 5).
  source = Buffer.alloc(24 * MiB);
  pattern(5 * MiB, 9).copy(source, 3 * MiB + 17);
  source.fill(0x61, 16 * MiB, 18 * MiB);
  pattern(4096, 11).copy(source, 24 * MiB - 4096);
  writeFileSync(join(dir, 'src.raw'), source);
  const q = qemuImg(['convert', '-f', 'raw', '-O', 'qcow2', 'src.raw', 'src.qcow2']);
  expect(q.code, q.stderr).toBe(0);
});
afterAll(async () => {
  await peer.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('tsemu-img convert to and from sheepdog', () => {
  it('raw -> sheepdog -> raw: byte-identical, sparse object stays unallocated', async () => {
    const uri = peer.uri('fromraw');
    expect(await tsemuImg(['convert', '-f', 'raw', '-O', 'raw', 'src.raw', uri], dir)).toMatchObject({ code: 0, stderr: '' });
    const cmp = await tsemuImg(['compare', '-f', 'raw', '-F', 'raw', 'src.raw', uri], dir);
    expect(cmp).toEqual({ code: 0, stdout: 'Images are identical.\n', stderr: '' });
    expect(await tsemuImg(['convert', '-f', 'raw', '-O', 'raw', uri, 'back.raw'], dir)).toMatchObject({ code: 0, stderr: '' });
    expect(qemuImg(['compare', '-f', 'raw', '-F', 'raw', 'src.raw', 'back.raw'])).toMatchObject({ code: 0, stdout: 'Images are identical.\n' });
    expect(Buffer.compare(readFileSync(join(dir, 'back.raw')), source)).toBe(0);
    // Object 3 is all zeros in the source: convert skips it, so the VDI never allocates it.
    const map = await tsemuImg(['map', '--output=json', '-f', 'raw', uri], dir);
    const extents = JSON.parse(map.stdout) as Array<{ start: number; length: number; data: boolean }>;
    expect(extents.find((e) => e.start <= 12 * MiB && e.start + e.length > 12 * MiB)!.data).toBe(false);
  });

  it('qcow2 -> sheepdog: tsemu-img compare against the qcow2 source says identical', async () => {
    const uri = peer.uri('fromqcow2');
    const r = await tsemuImg(['convert', '-f', 'qcow2', '-O', 'raw', 'src.qcow2', uri], dir);
    expect(r).toMatchObject({ code: 0, stderr: '' });
    expect(await tsemuImg(['compare', '-f', 'qcow2', '-F', 'raw', 'src.qcow2', uri], dir)).toMatchObject({ code: 0, stdout: 'Images are identical.\n' });
    // And a difference is found where there is one.
    const other = Buffer.from(source);
    other[20 * MiB + 5] ^= 0xff;
    writeFileSync(join(dir, 'other.raw'), other);
    const diff = await tsemuImg(['compare', '-f', 'raw', '-F', 'raw', 'other.raw', uri], dir);
    expect(diff).toMatchObject({ code: 1, stdout: `Content mismatch at offset ${20 * MiB}!\n` });
  });

  it('sheepdog -> qcow2 (plain and -c): the real qemu-img checks and compares them', async () => {
    const uri = peer.uri('toqcow2');
    expect((await tsemuImg(['convert', '-f', 'raw', '-O', 'raw', 'src.raw', uri], dir)).code).toBe(0);
    for (const [file, extra] of [['out.qcow2', []], ['outc.qcow2', ['-c']]] as const) {
      const r = await tsemuImg(['convert', ...extra, '-f', 'raw', '-O', 'qcow2', uri, file], dir);
      expect(r, r.stderr).toMatchObject({ code: 0, stderr: '' });
      const check = qemuImg(['check', file]);
      expect(check.code, check.stdout + check.stderr).toBe(0);
      expect(check.stdout).toMatch(/^No errors were found on the image\.\n/);
      const compressed = Number(/(\d+\.\d+)% compressed clusters/.exec(check.stdout)![1]);
      if (extra.length) expect(compressed).toBeGreaterThan(0);
      else expect(compressed).toBe(0);
      expect(qemuImg(['compare', '-f', 'raw', '-F', 'qcow2', 'src.raw', file])).toMatchObject({ code: 0, stdout: 'Images are identical.\n' });
      expect(await tsemuImg(['compare', '-f', 'qcow2', '-F', 'raw', file, uri], dir)).toMatchObject({ code: 0, stdout: 'Images are identical.\n' });
    }
    // -c really compressed: the 2 MiB run of one byte shrinks to almost nothing.
    expect(statSync(join(dir, 'outc.qcow2')).size).toBeLessThan(statSync(join(dir, 'out.qcow2')).size - MiB);
  });

  it('info on a sheepdog name (human and JSON)', async () => {
    const uri = peer.uri('fromraw');
    const human = await tsemuImg(['info', '-f', 'raw', uri], dir);
    expect(human.code).toBe(0);
    const lines = human.stdout.split('\n');
    expect(lines.slice(0, 3)).toEqual([`image: ${uri}`, 'file format: raw', `virtual size: 24 MiB (${24 * MiB} bytes)`]);
    // Objects 0-2, 4, 5 are allocated: 5 x 4 MiB.
    expect(lines[3]).toBe('disk size: 20 MiB');
    const json = JSON.parse((await tsemuImg(['info', '--output=json', '-f', 'raw', uri], dir)).stdout);
    expect(json).toMatchObject({ filename: uri, format: 'raw', 'virtual-size': 24 * MiB, 'actual-size': 20 * MiB });
  });
});
