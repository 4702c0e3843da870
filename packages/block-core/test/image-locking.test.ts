// Image locking between opens (QEMU 7.2's OFD lock bytes; see src/perm.ts).
// Two opens in one process conflict exactly as two processes would, because
// OFD locks belong to the open file description.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BlockError, createImage, findDriver, openImage, registerDriver, type BlockBackend, type OpenSpec } from '@tsemu/block-core';
import { testCowFormat } from './helpers/test-cow-format.js';

let dir: string;
const open: BlockBackend[] = [];
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'bc-lock-'));
  if (!findDriver('test-cow')) registerDriver(testCowFormat);
});
afterAll(async () => {
  for (const b of open) await b.close();
  rmSync(dir, { recursive: true, force: true });
});

async function hold(spec: OpenSpec): Promise<BlockBackend> {
  const blk = await openImage(spec);
  open.push(blk);
  return blk;
}

async function refusal(spec: OpenSpec): Promise<string> {
  const err = await openImage(spec).then(async (b) => { await b.close(); return undefined; }, (e: unknown) => e);
  expect(err).toBeInstanceOf(BlockError);
  return (err as BlockError).message;
}

const hint = (path: string): string => `\nIs another process using the image [${path}]?`;

describe('image locking', () => {
  it('raw shares everything: two writers may open it, as with qemu-io', async () => {
    const path = join(dir, 'shared.raw');
    writeFileSync(path, new Uint8Array(65536));
    await hold({ filename: path, format: 'raw' });
    const second = await openImage({ filename: path, format: 'raw' });
    await second.write(0, new Uint8Array(512).fill(1));
    await second.close();
  });

  it('a format that keeps metadata in its file refuses other writers and is refused by writers', async () => {
    const path = join(dir, 'held.tcow');
    await createImage({ filename: path, format: 'test-cow', size: 65536 });
    await hold({ filename: path, format: 'test-cow' });
    expect(await refusal({ filename: path, format: 'test-cow' })).toBe(`Failed to get "write" lock${hint(path)}`);
    // A reader of the format denies writes, and a writer holds them.
    expect(await refusal({ filename: path, format: 'test-cow', readOnly: true })).toBe(`Failed to get shared "write" lock${hint(path)}`);
    // Probing first opens the file as raw would, then takes the format's locks.
    expect(await refusal({ filename: path, readOnly: true })).toBe(`Failed to get shared "write" lock${hint(path)}`);
    expect(await refusal({ filename: path, format: 'raw' })).toBe(`Failed to get "write" lock${hint(path)}`);
    // -U (force-share) and locking=off open anyway.
    await (await openImage({ filename: path, format: 'test-cow', readOnly: true, forceShare: true })).close();
    await (await openImage({ options: { driver: 'test-cow', 'file.filename': path, 'file.locking': 'off' }, readOnly: true })).close();
  });

  it('readers of a format do not refuse each other', async () => {
    const path = join(dir, 'readers.tcow');
    await createImage({ filename: path, format: 'test-cow', size: 65536 });
    await hold({ filename: path, format: 'test-cow', readOnly: true });
    const second = await openImage({ filename: path, format: 'test-cow', readOnly: true });
    await second.close();
    // ...but a writer is refused while one reads.
    expect(await refusal({ filename: path, format: 'test-cow' })).toBe(`Failed to get "write" lock${hint(path)}`);
  });

  it('create refuses to truncate an image that is open, and leaves it intact', async () => {
    const path = join(dir, 'victim.tcow');
    await createImage({ filename: path, format: 'test-cow', size: 65536 });
    const before = readFileSync(path);
    await hold({ filename: path, format: 'test-cow', readOnly: true });
    const err = await createImage({ filename: path, format: 'raw', size: 4096 }).then(() => undefined, (e: unknown) => e);
    expect((err as BlockError).message).toBe(`Failed to get "write" lock${hint(path)}`);
    expect(readFileSync(path).equals(before)).toBe(true);
  });

  it('locking takes only values QEMU knows', async () => {
    const path = join(dir, 'opt.raw');
    writeFileSync(path, new Uint8Array(4096));
    expect(await refusal({ options: { driver: 'raw', 'file.filename': path, 'file.locking': 'bogus' } })).toBe('invalid parameter value: bogus');
  });

  it('the locks go with the last close', async () => {
    const path = join(dir, 'released.tcow');
    await createImage({ filename: path, format: 'test-cow', size: 65536 });
    const first = await openImage({ filename: path, format: 'test-cow' });
    await first.close();
    await (await openImage({ filename: path, format: 'test-cow' })).close();
  });
});
