import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BlockError, createImage, findDriver, openImage, type OpenSpec } from '@tsemu/block-core';
import { testCowHeader } from './helpers/test-cow-format.js';

let dir: string;
beforeAll(() => { dir = mkdtempSync(join(tmpdir(), 'bc-open-')); });
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function rawFile(name: string, size: number, fill = 0): string {
  const path = join(dir, name);
  writeFileSync(path, new Uint8Array(size).fill(fill));
  return path;
}

async function openError(spec: OpenSpec): Promise<BlockError> {
  const err = await openImage(spec).then((b) => { void b.close(); return undefined; }, (e: unknown) => e);
  expect(err).toBeInstanceOf(BlockError);
  return err as BlockError;
}

describe('opening by filename, options, --image-opts and json:', () => {
  it('-f raw over a file: round trip lands in the host file', async () => {
    const path = rawFile('a.raw', 65536);
    const blk = await openImage({ filename: path, format: 'raw' });
    expect(await blk.getLength()).toBe(65536);
    expect(blk.root.driver.name).toBe('raw');
    expect(blk.root.file?.driver.name).toBe('file');
    await blk.write(1000, new Uint8Array([9, 8, 7]));
    await blk.close();
    expect([...readFileSync(path).subarray(1000, 1003)]).toEqual([9, 8, 7]);
  });

  it('options dict, option string and json: all build the same graph', async () => {
    const path = rawFile('b.raw', 8192, 0x5a);
    const specs: OpenSpec[] = [
      { options: { driver: 'raw', 'file.filename': path } },
      { filename: `driver=raw,file.driver=file,file.filename=${path}`, imageOpts: true },
      { filename: `json:${JSON.stringify({ driver: 'raw', file: { driver: 'file', filename: path } })}` },
    ];
    for (const spec of specs) {
      const blk = await openImage(spec);
      const buf = new Uint8Array(4);
      await blk.read(8188, buf);
      expect([...buf]).toEqual([0x5a, 0x5a, 0x5a, 0x5a]);
      expect(blk.info().format).toBe('raw');
      expect(blk.info().filename).toBe(path);
      await blk.close();
    }
  });

  it('a protocol driver can be the root (driver=file)', async () => {
    const path = rawFile('c.raw', 4096);
    const blk = await openImage({ filename: `driver=file,filename=${path}`, imageOpts: true });
    expect(blk.info().format).toBe('file');
    await blk.close();
  });

  it('raw offset/size options window into the file', async () => {
    const path = rawFile('win.raw', 8192);
    const blk = await openImage({ filename: `driver=raw,file.filename=${path},offset=1024,size=2048`, imageOpts: true });
    expect(await blk.getLength()).toBe(2048);
    await blk.write(0, new Uint8Array([1]));
    await blk.write(2047, new Uint8Array([2]));
    await expect(blk.write(2048, new Uint8Array([3]))).rejects.toMatchObject({ code: 'EIO' });
    await blk.close();
    const bytes = readFileSync(path);
    expect(bytes[1024]).toBe(1);
    expect(bytes[1024 + 2047]).toBe(2);
    expect(bytes[0]).toBe(0);
  });

  it('raw offset/size errors use QEMU words', async () => {
    const path = rawFile('small.raw', 4096);
    expect((await openError({ filename: `driver=raw,file.filename=${path},offset=8192`, imageOpts: true })).message)
      .toBe('Offset (8192) cannot be greater than size of the containing file (4096)');
    expect((await openError({ filename: `driver=raw,file.filename=${path},offset=512,size=4096`, imageOpts: true })).message)
      .toBe('The sum of offset (512) and size (4096) has to be smaller or equal to the  actual size of the containing file (4096)');
    expect((await openError({ filename: `driver=raw,file.filename=${path},size=1000`, imageOpts: true })).message)
      .toBe('Specified size is not multiple of 512');
  });
});

describe('errors', () => {
  it('missing file, unknown driver, directory, unknown option', async () => {
    const missing = join(dir, 'nope.raw');
    const e1 = await openError({ filename: missing });
    expect(e1.code).toBe('ENOENT');
    expect(e1.message).toBe(`Could not open '${missing}': No such file or directory`);
    const e1b = await openError({ filename: `json:{"driver":"raw","file":{"driver":"file","filename":"${missing}"}}` });
    expect(e1b.message).toBe(`Could not open '${missing}': No such file or directory`);
    const e2 = await openError({ filename: rawFile('x.raw', 512), format: 'nosuchfmt' });
    expect(e2.message).toBe("Unknown driver 'nosuchfmt'");
    const e3 = await openError({ filename: dir, format: 'raw' });
    expect(e3.message).toBe(`Could not open '${dir}': Is a directory`);
    const e4 = await openError({ filename: `driver=raw,file.filename=${rawFile('y.raw', 512)},bogus=1`, imageOpts: true });
    expect(e4.message).toBe("Block format 'raw' does not support the option 'bogus'");
    const e5 = await openError({ filename: 'json:{"driver":', format: undefined });
    expect(e5.code).toBe('EINVAL');
  });
});

describe('probing', () => {
  it('guessing raw emits QEMU\'s three warning lines, one call per line', async () => {
    const path = rawFile('test.raw', 4096);
    const lines: string[] = [];
    const blk = await openImage({ filename: path, onWarning: (l) => lines.push(l) });
    expect(lines).toEqual([
      `WARNING: Image format was not specified for '${path}' and probing guessed raw.`,
      '         Automatically detecting the format is dangerous for raw images, write operations on block 0 will be restricted.',
      "         Specify the 'raw' format explicitly to remove the restrictions.",
    ]);
    expect(blk.root.probed).toBe(true);
    await blk.close();
    const quiet: string[] = [];
    await (await openImage({ filename: path, format: 'raw', onWarning: (l) => quiet.push(l) })).close();
    expect(quiet).toEqual([]);
    // Read-only: nothing to restrict, so QEMU says nothing (qemu-img info never warns).
    await (await openImage({ filename: path, readOnly: true, onWarning: (l) => quiet.push(l) })).close();
    expect(quiet).toEqual([]);
  });

  it('probes a registered format by its header score', async () => {
    const path = join(dir, 'p.tcow');
    writeFileSync(path, testCowHeader(8192));
    const lines: string[] = [];
    const blk = await openImage({ filename: path, onWarning: (l) => lines.push(l) });
    expect(blk.info().format).toBe('test-cow');
    expect(lines).toEqual([]);
    await blk.close();
  });

  it('a probed raw image refuses writes that would make sector 0 probe as another format (EPERM)', async () => {
    const path = rawFile('guard.raw', 8192);
    const blk = await openImage({ filename: path });
    const evil = testCowHeader(8192).subarray(0, 512);
    await expect(blk.write(0, evil)).rejects.toMatchObject({ code: 'EPERM' });
    // Partial write that completes the magic on top of existing bytes is caught too.
    await blk.write(0, new Uint8Array([0x54, 0x43]));
    await expect(blk.write(2, new Uint8Array([0x4f, 0x57]))).rejects.toMatchObject({ code: 'EPERM' });
    // Harmless data in sector 0 and anything past it are fine.
    await blk.write(0, new Uint8Array(512).fill(1));
    await blk.write(512, evil);
    await blk.close();
    expect(readFileSync(path)[0]).toBe(1);
    const explicit = await openImage({ filename: path, format: 'raw' });
    await explicit.write(0, evil);
    await explicit.close();
    expect([...readFileSync(path).subarray(0, 4)]).toEqual([0x54, 0x43, 0x4f, 0x57]);
  });
});

describe('backing chains', () => {
  it('reads unallocated ranges from the backing node; writes stay in the top', async () => {
    const base = rawFile('base.raw', 16384, 0xbb);
    await createImage({ filename: join(dir, 'top.tcow'), format: 'test-cow', size: 16384, options: { backing_file: 'base.raw' } });
    const blk = await openImage({ filename: join(dir, 'top.tcow'), format: 'test-cow' });
    expect(blk.root.backing?.filename).toBe(base);
    expect(blk.root.backingFile).toBe('base.raw');
    expect(blk.root.backing?.readOnly).toBe(true);
    await blk.write(4096, new Uint8Array(4096).fill(0x11));
    await blk.write(8192 + 100, new Uint8Array(10).fill(0x22)); // RMW reads the base for the rest of the block
    const buf = new Uint8Array(16384);
    await blk.read(0, buf);
    expect(buf[0]).toBe(0xbb);
    expect(buf[4096]).toBe(0x11);
    expect(buf[8192]).toBe(0xbb);
    expect(buf[8192 + 100]).toBe(0x22);
    expect(buf[12288]).toBe(0xbb);
    expect(await blk.isAllocated(0, 16384)).toEqual({ allocated: false, length: 4096 });
    expect(await blk.isAllocatedAbove(0, 16384)).toEqual({ allocated: true, length: 4096, depth: 1 });
    expect(await blk.isAllocatedAbove(4096, 16384)).toEqual({ allocated: true, length: 8192, depth: 0 });
    // What a read returns: the base's data where the top has nothing, the top's own data where it has it.
    expect(await blk.blockStatusAbove(0, 16384)).toMatchObject({ length: 4096, data: true, zero: false, allocated: false });
    expect(await blk.blockStatusAbove(4096, 16384)).toMatchObject({ length: 8192, data: true, allocated: true });
    await blk.close();
    expect(readFileSync(base).every((b) => b === 0xbb)).toBe(true);
  });

  it('a shorter backing file reads as zeroes past its end; noBacking skips it', async () => {
    rawFile('short.raw', 4096, 0xcc);
    await createImage({ filename: join(dir, 'long.tcow'), format: 'test-cow', size: 12288, options: { backing_file: 'short.raw' } });
    const blk = await openImage({ filename: join(dir, 'long.tcow') });
    const buf = new Uint8Array(12288);
    await blk.read(0, buf);
    expect(buf[4095]).toBe(0xcc);
    expect(buf.subarray(4096).every((b) => b === 0)).toBe(true);
    expect(await blk.blockStatusAbove(4096, 8192)).toMatchObject({ length: 8192, data: false, zero: true, allocated: false });
    // As QEMU's bdrv_is_allocated_above: past its end, the shorter backing file has the range (as zeroes).
    expect(await blk.isAllocatedAbove(4096, 8192)).toEqual({ allocated: true, length: 8192, depth: 1 });
    await blk.close();
    rmSync(join(dir, 'short.raw'));
    await expect(openImage({ filename: join(dir, 'long.tcow') })).rejects.toMatchObject({
      code: 'ENOENT', message: `Could not open backing file: Could not open '${join(dir, 'short.raw')}': No such file or directory`,
    });
    const nb = await openImage({ filename: join(dir, 'long.tcow'), noBacking: true });
    expect(nb.root.backing).toBeUndefined();
    expect(nb.root.backingFile).toBe('short.raw');
    await nb.close();
  });
});

describe('read-only opens and createImage', () => {
  it('read-only open refuses writes and does not change the file', async () => {
    const path = rawFile('ro.raw', 4096, 3);
    const blk = await openImage({ filename: path, format: 'raw', readOnly: true });
    expect(blk.readOnly).toBe(true);
    expect(blk.root.file?.readOnly).toBe(true);
    await expect(blk.write(0, new Uint8Array(1))).rejects.toMatchObject({ code: 'EPERM', message: 'Block node is read-only' });
    await blk.close();
    expect(readFileSync(path)[0]).toBe(3);
  });

  it('createImage returns QEMU\'s Formatting line and checks options', async () => {
    const path = join(dir, 'new.raw');
    expect(await createImage({ filename: path, format: 'raw', size: 1 << 20 })).toBe(`Formatting '${path}', fmt=raw size=1048576`);
    expect(statSync(path).size).toBe(1 << 20);
    expect(statSync(path).blocks).toBe(8); // sparse but for the first 4 KiB, which QEMU writes at create
    await createImage({ filename: path, format: 'raw', size: 100 });
    expect(statSync(path).size).toBe(512); // whole sectors, as qemu-img creates them
    writeFileSync(path, new Uint8Array(3145828).fill(1));
    const odd = await openImage({ filename: path, format: 'raw' });
    expect(await odd.getLength()).toBe(3146240); // rounded up to a sector, like bdrv_getlength
    const tail = new Uint8Array(512).fill(9);
    await odd.read(3146240 - 512, tail);
    expect([...tail.subarray(0, 100)].every((b) => b === 1) && [...tail.subarray(100)].every((b) => b === 0)).toBe(true);
    await odd.close();
    expect(await createImage({ filename: path, format: 'raw', size: 65536, options: { preallocation: 'full' } }))
      .toBe(`Formatting '${path}', fmt=raw size=65536 preallocation=full`);
    expect(statSync(path).blocks * 512).toBeGreaterThanOrEqual(65536);
    await expect(createImage({ filename: path, format: 'raw', size: 1, options: { foo: '1' } })).rejects.toThrow("Invalid parameter 'foo'");
    await expect(createImage({ filename: path, format: 'nosuchfmt', size: 1 })).rejects.toThrow("Unknown file format 'nosuchfmt'");
    await expect(createImage({ filename: path, format: 'null-co', size: 1 })).rejects.toThrow("Format driver 'null-co' does not support image creation");
    expect(findDriver('raw')?.kind).toBe('format');
  });
});
