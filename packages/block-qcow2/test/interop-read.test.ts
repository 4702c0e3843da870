// Images made by qemu-img / qemu-io read back through tsemu exactly as
// qemu-img itself reads them (qemu-img convert -O raw is the reference).
import { execFileSync } from 'node:child_process';
import { afterAll, describe, expect, it } from 'vitest';
import { openImage } from '@tsemu/block-core';
import { firstDiff, readAllQemu, readAllTsemu } from './helpers/images.js';
import { makeTempDir, qemuImg, qemuImgStatus, qemuIo } from './helpers/tools.js';

const tmp = makeTempDir();
afterAll(() => tmp.cleanup());

const CLUSTER_SIZES = [512, 4096, 65536, 2 * 1024 * 1024];
const COMPATS = ['0.10', '1.1'];

/** A mix of full, partial, cross-cluster, zeroed and compressed writes. */
function populate(file: string, cs: number, compat: string): void {
  const cmds = [
    'write -P 0x11 0 1k',
    `write -P 0x22 ${cs - 100} 300`,
    `write -P 0x33 ${3 * cs} ${2 * cs + 777}`,
    'write -P 0x44 5M 64k',
    `write -c -P 0x55 ${8 * cs} ${cs}`,
    `write -c -P 0x56 ${9 * cs} ${cs}`,
    'write -P 0x66 13M 3M',
  ];
  if (compat === '1.1') cmds.push(`write -z ${4 * cs} ${cs}`, 'write -z 14M 1M');
  else cmds.push(`write -z ${4 * cs} ${cs}`);
  qemuIo(file, ...cmds);
}

describe('reading qemu-made images', () => {
  for (const cs of CLUSTER_SIZES) {
    for (const compat of COMPATS) {
      it(`cluster_size=${cs} compat=${compat}`, async () => {
        const f = tmp.path(`r-${cs}-${compat}.qcow2`);
        qemuImg('create', '-f', 'qcow2', '-o', `cluster_size=${cs},compat=${compat}`, f, String(Math.max(16 << 20, 16 * cs)));
        populate(f, cs, compat);
        const expected = readAllQemu(f, tmp.path(`r-${cs}-${compat}.raw`));
        const actual = await readAllTsemu(f);
        expect(firstDiff(actual, expected)).toBe(-1);
      });
    }
  }

  it('falls through to a qcow2 backing file, and reads zeroes past a shorter one', async () => {
    const base = tmp.path('base.qcow2');
    const top = tmp.path('top.qcow2');
    qemuImg('create', '-f', 'qcow2', base, '1M');
    qemuIo(base, 'write -P 0xaa 0 1M');
    qemuImg('create', '-f', 'qcow2', '-b', base, '-F', 'qcow2', top, '4M');
    qemuIo(top, 'write -P 0xbb 4k 1k', 'write -P 0xcc 900k 200k', 'write -z 64k 64k');
    const expected = readAllQemu(top, tmp.path('top.raw'));
    const actual = await readAllTsemu(top);
    expect(firstDiff(actual, expected)).toBe(-1);
    expect(actual[3 * 1024 * 1024]).toBe(0);
    expect(actual[0]).toBe(0xaa);
  });

  it('reads through a raw backing file', async () => {
    const base = tmp.path('base.raw');
    const top = tmp.path('top-raw.qcow2');
    qemuImg('create', '-f', 'raw', base, '2M');
    qemuIoRaw(base, 'write -P 0x77 0 2M');
    qemuImg('create', '-f', 'qcow2', '-b', base, '-F', 'raw', '-o', 'cluster_size=4096', top, '2M');
    qemuIo(top, 'write -P 0x78 1000 5000');
    const expected = readAllQemu(top, tmp.path('top-raw.raw'));
    expect(firstDiff(await readAllTsemu(top), expected)).toBe(-1);
  });

  it('reports block status like qemu-img map', async () => {
    const f = tmp.path('map.qcow2');
    qemuImg('create', '-f', 'qcow2', f, '16M');
    qemuIo(f, 'write -P 1 0 64k', 'write -z 1M 128k', 'write -c 2M 64k');
    const blk = await openImage({ filename: f, format: 'qcow2', readOnly: true });
    const s0 = await blk.blockStatus(0, 16 << 20);
    expect(s0).toMatchObject({ length: 65536, data: true, zero: false, allocated: true });
    expect(s0.offset).toBeGreaterThan(0);
    expect(await blk.blockStatus(65536, 16 << 20)).toMatchObject({ length: (1 << 20) - 65536, data: false, allocated: false });
    expect(await blk.blockStatus(1 << 20, 16 << 20)).toMatchObject({ length: 131072, data: false, zero: true, allocated: true });
    expect(await blk.blockStatus(2 << 20, 16 << 20)).toMatchObject({ length: 65536, data: true, compressed: true });
    await blk.close();
  });
});

function qemuIoRaw(file: string, cmd: string): void {
  execFileSync('qemu-io', ['-f', 'raw', '-c', cmd, file], { stdio: 'ignore' });
}

describe('host offsets past 2 GiB and 4 GiB', () => {
  it('reads and writes clusters stored beyond 4 GiB in the file', async () => {
    const f = tmp.path('big.qcow2');
    // Metadata preallocation puts guest offset X at host offset ~X (sparse file).
    qemuImg('create', '-f', 'qcow2', '-o', 'preallocation=metadata', f, '6G');
    qemuIo(f, 'write -P 0x31 3G 64k', 'write -P 0x32 5G 100k');
    const blk = await openImage({ filename: f, format: 'qcow2' });
    const buf = new Uint8Array(100 * 1024);
    await blk.read(5 * 2 ** 30, buf);
    expect(buf.every((b) => b === 0x32)).toBe(true);
    await blk.read(3 * 2 ** 30, buf.subarray(0, 65536));
    expect(buf.subarray(0, 65536).every((b) => b === 0x31)).toBe(true);
    const st = await blk.blockStatus(5 * 2 ** 30, 65536);
    expect(st.offset).toBeGreaterThan(5 * 2 ** 30);
    await blk.write(5 * 2 ** 30 + 4096, new Uint8Array(4096).fill(0x33));
    await blk.write(2 ** 31 + 7, new Uint8Array(10).fill(0x34));
    await blk.close();
    qemuIo(f, `read -P 0x33 ${5 * 2 ** 30 + 4096} 4k`, 'read -P 0x32 5G 4k', 'read -P 0x34 2147483655 10');
    expect(qemuImgStatus('check', f).status).toBe(0);
  });
});
