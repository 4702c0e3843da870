import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { blkdebugOf, FileDriverState, openImage } from '@tsemu/block-core';

let dir: string;
beforeAll(() => { dir = mkdtempSync(join(tmpdir(), 'bc-drv-')); });
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('null-co', () => {
  it('defaults to 1 GiB, takes size=, drops writes, leaves buffers alone unless read-zeroes=on', async () => {
    const def = await openImage({ filename: 'null-co://', format: 'raw' });
    expect(await def.getLength()).toBe(1 << 30);
    await def.write(0, new Uint8Array([1]));
    const buf = new Uint8Array(4).fill(0xab);
    await def.read(0, buf);
    expect([...buf]).toEqual([0xab, 0xab, 0xab, 0xab]);
    await def.close();
    const z = await openImage({ filename: 'driver=null-co,size=1M,read-zeroes=on', imageOpts: true });
    expect(await z.getLength()).toBe(1 << 20);
    await z.read(0, buf);
    expect([...buf]).toEqual([0, 0, 0, 0]);
    expect((await z.blockStatus(0, 4096)).zero).toBe(true);
    await expect(z.read(1 << 20, new Uint8Array(1))).rejects.toMatchObject({ code: 'EIO' });
    await z.close();
  });

  it('null-aio and probing through null-co:// (raw guessed)', async () => {
    const lines: string[] = [];
    const b = await openImage({ filename: 'null-co://', onWarning: (l) => lines.push(l) });
    expect(lines[0]).toBe("WARNING: Image format was not specified for 'null-co://' and probing guessed raw.");
    await b.close();
    const a = await openImage({ filename: 'null-aio://', format: 'raw' });
    expect(a.root.file?.driver.name).toBe('null-aio');
    await a.close();
  });
});

describe('blkdebug', () => {
  function image(): string {
    const path = join(dir, `img${Math.random().toString(36).slice(2)}.raw`);
    writeFileSync(path, new Uint8Array(65536).fill(1));
    return path;
  }

  it('fails exactly the Nth read with EIO by default, once', async () => {
    const blk = await openImage({ filename: `driver=raw,file.driver=blkdebug,file.image.filename=${image()},file.inject.read=2`, imageOpts: true });
    const buf = new Uint8Array(512);
    await blk.read(0, buf);
    await expect(blk.read(0, buf)).rejects.toMatchObject({ code: 'EIO', message: 'Input/output error' });
    await blk.read(0, buf);
    expect(blkdebugOf(blk.root)?.counts.read).toBe(3);
    await blk.close();
  });

  it('inject.errno and inject.once=off: the Nth write and all later ones fail; nothing reaches the file', async () => {
    const path = image();
    const blk = await openImage({
      format: 'raw',
      options: { 'file.driver': 'blkdebug', 'file.image.filename': path, 'file.inject.write': '2', 'file.inject.errno': 'ENOSPC', 'file.inject.once': 'off' },
    });
    await blk.write(0, new Uint8Array([5]));
    await expect(blk.write(1, new Uint8Array([6]))).rejects.toMatchObject({ code: 'ENOSPC', message: 'No space left on device' });
    await expect(blk.write(2, new Uint8Array([7]))).rejects.toMatchObject({ code: 'ENOSPC' });
    await blk.close();
    expect([...readFileSync(path).subarray(0, 3)]).toEqual([5, 1, 1]);
  });

  it('inject.flush fails a flush before the file is synced; filename syntax blkdebug::<image>', async () => {
    const blk = await openImage({ filename: `blkdebug::${image()}`, format: 'raw', options: { 'file.inject.flush': '1', 'file.log': 'on' } });
    await blk.write(0, new Uint8Array([2]));
    const file = blk.root.file!.children.get('image')!.state as FileDriverState;
    await expect(blk.flush()).rejects.toMatchObject({ code: 'EIO' });
    expect(file.stats.datasyncs).toBe(0);
    await blk.flush();
    expect(file.stats.datasyncs).toBe(1);
    expect(blkdebugOf(blk.root)?.events.map((e) => `${e.op}${e.failed ? '!' : ''}`)).toEqual(['write', 'flush!', 'flush']);
    await blk.close();
  });

  it('align=4096 makes the request layer do RMW above it; fua is logged under writethrough', async () => {
    const path = image();
    const blk = await openImage({ filename: `driver=raw,file.driver=blkdebug,file.image.filename=${path},file.align=4096,file.log=on`, imageOpts: true, cache: 'writethrough' });
    await blk.write(4097, new Uint8Array([9, 9]));
    const events = blkdebugOf(blk.root)!.events;
    // blkdebug passes FUA down; the file node below emulates it with fdatasync.
    expect(events.map((e) => [e.op, e.offset, e.length, e.fua])).toEqual([['read', 4096, 4096, false], ['write', 4096, 4096, true]]);
    expect((blk.root.file!.children.get('image')!.state as FileDriverState).stats.datasyncs).toBe(1);
    await blk.close();
    expect([...readFileSync(path).subarray(4096, 4100)]).toEqual([1, 9, 9, 1]);
  });

  it('sits under a filename given with -f raw and file.driver=blkdebug', async () => {
    const path = image();
    const blk = await openImage({ filename: path, format: 'raw', options: { 'file.driver': 'blkdebug', 'file.inject.read': '1' } });
    await expect(blk.read(0, new Uint8Array(1))).rejects.toMatchObject({ code: 'EIO' });
    expect(blk.root.file?.driver.name).toBe('blkdebug');
    expect(blk.root.file?.children.get('image')?.filename).toBe(path);
    await blk.close();
  });

  it('rejects bad options', async () => {
    await expect(openImage({ filename: `driver=raw,file.driver=blkdebug,file.image.filename=${image()},file.inject.errno=EBOGUS`, imageOpts: true }))
      .rejects.toThrow("Invalid errno 'EBOGUS'");
    await expect(openImage({ filename: `driver=raw,file.driver=blkdebug,file.image.filename=${image()},file.nope=1`, imageOpts: true }))
      .rejects.toThrow("Block protocol 'blkdebug' doesn't support the option 'nope'");
  });
});
