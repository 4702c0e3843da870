// qcow2 with compression_type=zstd, against qemu-img / qemu-io 7.2: zstd
// clusters qemu wrote read back right, and tsemu's own compressed writes
// leave qemu's very file (the host's libzstd, level 3, one frame per
// cluster with its content size), across cluster sizes; damaged frames are
// read errors as in qemu-io; a downgrade to compat=0.10 switches an image
// without compressed clusters to zlib and refuses one with them.
import { copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run, sha256, SideBySide, TSEMU_IMG } from './harness.js';

const TSEMU_IO = TSEMU_IMG.replace(/tsemu-img$/, 'tsemu-io');

let w: SideBySide;

/** Seeded text-like data (compresses as real files do) followed by seeded noise (does not compress). */
function mixedData(size: number, seed: number): Buffer {
  const words = ['alpha', 'beta', 'gamma', 'qcow2', 'zstd', 'cluster', 'sector', 'tsemu'];
  const out = Buffer.alloc(size);
  let s = seed >>> 0;
  const next = (): number => (s = (Math.imul(s, 1103515245) + 12345) >>> 0);
  let pos = 0;
  while (pos < size / 2) pos += out.write(`${words[next() % 8]} ${next() % 1000}\n`, pos);
  for (; pos < size; pos++) out[pos] = next() >>> 24;
  return out;
}

function ok(bin: string, args: string[], cwd: string): string {
  const r = run(bin, args, cwd);
  if (r.code !== 0) throw new Error(`${bin} ${args.join(' ')}: ${r.stderr}${r.stdout}`);
  return r.stdout;
}

/** The host offset of guest cluster 0's compressed data (64 KiB clusters, one L2 table). */
function firstCompressed(path: string): number {
  const img = readFileSync(path);
  const l2 = Number(img.readBigUInt64BE(Number(img.readBigUInt64BE(40))) & 0x00fffffffffffe00n);
  const entry = img.readBigUInt64BE(l2);
  expect(entry >> 62n).toBe(1n); // compressed
  return Number(entry & ((1n << 54n) - 1n));
}

beforeAll(() => {
  w = new SideBySide();
  for (const dir of [w.q, w.t]) {
    writeFileSync(`${dir}/mix.raw`, mixedData(3 << 20, 7));
    writeFileSync(`${dir}/noise.bin`, mixedData(128 << 10, 9).subarray(64 << 10));
  }
  // Made by qemu-img / qemu-io, read by both tools.
  ok('qemu-img', ['convert', '-c', '-f', 'raw', '-O', 'qcow2', '-o', 'compression_type=zstd', 'mix.raw', 'qz.qcow2'], w.q);
  ok('qemu-img', ['create', '-q', '-f', 'qcow2', '-o', 'compression_type=zstd', 'io.qcow2', '4M'], w.q);
  ok('qemu-io', ['-c', 'write -c -P 0x5a 0 64k', '-c', 'write -c -P 0xa5 192k 128k', '-c', 'write -P 3 1M 64k', 'io.qcow2'], w.q);
  for (const f of ['qz.qcow2', 'io.qcow2']) copyFileSync(`${w.q}/${f}`, `${w.t}/${f}`);
});

afterAll(() => w.cleanup());

describe('zstd clusters written by qemu', () => {
  it('compare and convert read them as qemu-img does', () => {
    for (const args of [['compare', '-f', 'raw', '-F', 'qcow2', 'mix.raw', 'qz.qcow2'], ['compare', '-f', 'raw', 'mix.raw', 'qz.qcow2']]) {
      const { qemu, tsemu } = w.compare(args);
      expect(tsemu).toEqual(qemu);
      expect(tsemu.stdout).toBe('Images are identical.\n');
    }
    const { qemu, tsemu, qemuSha, tsemuSha } = w.convertBoth(['convert', '-O', 'raw', 'qz.qcow2', 'back.raw']);
    expect(tsemu).toEqual(qemu);
    expect(tsemuSha).toBe(qemuSha);
    expect(tsemuSha).toBe(sha256(`${w.t}/mix.raw`));
  });

  it('tsemu-io reads qemu-io\'s compressed writes with their patterns', () => {
    const r = run(TSEMU_IO, ['-c', 'read -P 0x5a 0 64k', '-c', 'read -P 0xa5 192k 128k', '-c', 'read -P 3 1M 64k', '-c', 'read -P 0 64k 128k', 'io.qcow2'], w.t);
    expect(r.code).toBe(0);
    expect(r.stdout.match(/^read \d+\/\d+ bytes/gm)).toHaveLength(4);
  });

  it('info, map and check show the image as qemu-img does', () => {
    // The same file for both (a copy's disk size may differ).
    for (const args of [['info', 'qz.qcow2'], ['info', '--output=json', 'qz.qcow2'], ['map', '--output=json', 'qz.qcow2'], ['check', 'qz.qcow2']]) {
      expect(w.tsemu(args)).toEqual(run('qemu-img', args, w.t));
    }
    expect(w.tsemu(['info', 'qz.qcow2']).stdout).toMatch(/compression type: zstd\n/);
  });
});

describe('zstd clusters written by tsemu: qemu\'s very file', () => {
  it.each(['4096', '65536', '2097152'])('convert -c, cluster_size=%s', (cs) => {
    const args = ['convert', '-c', '-f', 'raw', '-O', 'qcow2', '-o', `compression_type=zstd,cluster_size=${cs}`, 'mix.raw', 'c.qcow2'];
    const { qemu, tsemu, qemuSha, tsemuSha } = w.convertBoth(args);
    expect(tsemu).toEqual(qemu);
    expect(tsemu.code).toBe(0);
    expect(tsemuSha).toBe(qemuSha);
    expect(ok('qemu-img', ['check', 'c.qcow2'], w.t)).toMatch(/No errors were found on the image\.\n.*compressed clusters/);
  });

  it.each(['512', '4096', '2097152'])('qemu-io write -c, cluster_size=%s', (cs) => {
    const n = Number(cs);
    for (const dir of [w.q, w.t]) ok('qemu-img', ['create', '-q', '-f', 'qcow2', '-o', `compression_type=zstd,cluster_size=${cs}`, 'w.qcow2', '16M'], dir);
    const cmds = ['-c', `write -c -P 0x11 0 ${n}`, '-c', `write -c -P 0x22 ${3 * n} ${n}`, '-c', `write -c -P 0x33 ${5 * n} ${n}`];
    const q = run('qemu-io', [...cmds, 'w.qcow2'], w.q);
    const t = run(TSEMU_IO, [...cmds, 'w.qcow2'], w.t);
    expect(t.code).toBe(q.code);
    const wrote = (out: string): string[] => out.split('\n').filter((l) => l.startsWith('wrote'));
    expect(wrote(t.stdout)).toEqual(wrote(q.stdout));
    expect(wrote(t.stdout)).toHaveLength(3);
    expect(sha256(`${w.t}/w.qcow2`)).toBe(sha256(`${w.q}/w.qcow2`));
  });

  it('a multi-cluster compressed write: qemu-img check clean, qemu-io reads the data', () => {
    ok('qemu-img', ['create', '-q', '-f', 'qcow2', '-o', 'compression_type=zstd', 'm.qcow2', '4M'], w.t);
    ok(TSEMU_IO, ['-c', 'write -c -P 0x44 0 256k', '-c', 'write -c -P 0x55 1M 64k', 'm.qcow2'], w.t);
    expect(ok('qemu-img', ['check', 'm.qcow2'], w.t)).toMatch(/5\/64 = 7\.81% allocated.*100\.00% compressed clusters/s);
    ok('qemu-io', ['-c', 'read -P 0x44 0 256k', '-c', 'read -P 0x55 1M 64k', '-c', 'read -P 0 256k 768k', 'm.qcow2'], w.t);
  });

  it('incompressible clusters are written plainly, as qemu does', () => {
    for (const dir of [w.q, w.t]) ok('qemu-img', ['create', '-q', '-f', 'qcow2', '-o', 'compression_type=zstd', 'n.qcow2', '1M'], dir);
    ok('qemu-io', ['-c', 'write -c -s noise.bin 64k 64k', 'n.qcow2'], w.q);
    ok(TSEMU_IO, ['-c', 'write -c -s noise.bin 64k 64k', 'n.qcow2'], w.t);
    expect(sha256(`${w.t}/n.qcow2`)).toBe(sha256(`${w.q}/n.qcow2`));
    expect(ok('qemu-img', ['check', 'n.qcow2'], w.t)).toMatch(/0\.00% compressed clusters/);
  });
});

describe('damaged zstd data', () => {
  it.each([
    ['a wrong frame magic', (b: Buffer, at: number) => b.writeUInt32LE(0x12345678, at)],
    ['garbage in the frame', (b: Buffer, at: number) => b.fill(0xff, at + 8, at + 200)],
  ])('%s: a read error as in qemu-io', (_name, damage) => {
    for (const dir of [w.q, w.t]) {
      const img = readFileSync(`${dir}/io.qcow2`);
      damage(img, firstCompressed(`${dir}/io.qcow2`));
      writeFileSync(`${dir}/bad.qcow2`, img);
    }
    const q = run('qemu-io', ['-c', 'read 0 64k', '-c', 'read -P 3 1M 64k', 'bad.qcow2'], w.q);
    const t = run(TSEMU_IO, ['-c', 'read 0 64k', '-c', 'read -P 3 1M 64k', 'bad.qcow2'], w.t);
    expect(t.stdout.split('\n')[0]).toBe('read failed: Input/output error');
    expect(t.stdout.split('\n')[0]).toBe(q.stdout.split('\n')[0]);
    expect(t.code).toBe(q.code);
    const { qemu, tsemu } = w.compare(['convert', '-O', 'raw', 'bad.qcow2', 'bad.raw']);
    expect(tsemu.code).toBe(qemu.code);
    expect(tsemu.code).toBe(1);
  });
});

describe('amend -o compat=0.10 on a zstd image', () => {
  it('without compressed clusters: switched to zlib, the same file as qemu-img', () => {
    w.both('qemu-img', ['create', '-q', '-f', 'qcow2', '-o', 'compression_type=zstd', 'd.qcow2', '1M']);
    w.both('qemu-io', ['-c', 'write -P 9 64k 64k', 'd.qcow2']);
    const { qemu, tsemu } = w.compare(['amend', '-o', 'compat=0.10', 'd.qcow2']);
    expect(tsemu).toEqual(qemu);
    expect(tsemu.code).toBe(0);
    expect(sha256(`${w.t}/d.qcow2`)).toBe(sha256(`${w.q}/d.qcow2`));
    expect(ok('qemu-img', ['info', 'd.qcow2'], w.t)).toMatch(/compat: 0\.10\n/);
  });

  it('with compressed clusters: qemu-img\'s refusal, the image left alone', () => {
    for (const dir of [w.q, w.t]) copyFileSync(`${dir}/io.qcow2`, `${dir}/a.qcow2`);
    const before = sha256(`${w.t}/a.qcow2`);
    const { qemu, tsemu } = w.compare(['amend', '-o', 'compat=0.10', 'a.qcow2']);
    expect(tsemu).toEqual(qemu);
    expect(tsemu.stderr).toBe('qemu-img: Cannot downgrade an image with zstd compression type and existing compressed clusters\n');
    expect(tsemu.code).toBe(1);
    expect(sha256(`${w.t}/a.qcow2`)).toBe(before);
  });

  it('with compressed clusters only in a snapshot: refused too (qemu-img 7.2 downgrades and the snapshot no longer reads)', () => {
    ok('qemu-img', ['create', '-q', '-f', 'qcow2', '-o', 'compression_type=zstd', 's.qcow2', '1M'], w.t);
    ok('qemu-io', ['-c', 'write -c -P 7 0 64k', 's.qcow2'], w.t);
    ok('qemu-img', ['snapshot', '-c', 's1', 's.qcow2'], w.t);
    ok('qemu-io', ['-c', 'write -P 8 0 64k', 's.qcow2'], w.t);
    const r = w.tsemu(['amend', '-o', 'compat=0.10', 's.qcow2']);
    expect(r).toEqual({ stdout: '', stderr: 'qemu-img: Cannot downgrade an image with zstd compression type and existing compressed clusters\n', code: 1 });
    ok('qemu-img', ['snapshot', '-a', 's1', 's.qcow2'], w.t);
    ok('qemu-io', ['-c', 'read -P 7 0 64k', 's.qcow2'], w.t);
  });
});
