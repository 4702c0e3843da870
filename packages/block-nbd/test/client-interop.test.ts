// The tsemu 'nbd' client driver against real servers: qemu-nbd 7.2 (unix
// socket and 127.0.0.1 TCP) and nbdkit's memory plugin. Data must round-trip
// and our block-status map must equal what qemu-img map sees on the same
// server.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BlockError, openImage, type BlockBackend } from '@tsemu/block-core';
import '../src/index.js';
import { NbdClient } from '../src/index.js';
import { Peers, cleanupDir, freePort, pattern, run, tempDir } from './helpers.js';

interface MapEntry { start: number; length: number; data: boolean; zero: boolean }

async function ourMap(blk: BlockBackend): Promise<MapEntry[]> {
  const size = await blk.getLength();
  const out: MapEntry[] = [];
  for (let pos = 0; pos < size;) {
    const st = await blk.blockStatus(pos, size - pos);
    const last = out[out.length - 1];
    if (last && last.data === st.data && last.zero === st.zero) last.length += st.length;
    else out.push({ start: pos, length: st.length, data: st.data, zero: st.zero });
    pos += st.length;
  }
  return out;
}

async function qemuImgMap(uri: string): Promise<MapEntry[]> {
  const r = await run('qemu-img', ['map', '--output=json', '-f', 'raw', uri]);
  expect(r.code, r.stderr).toBe(0);
  return (JSON.parse(r.stdout) as MapEntry[]).map(({ start, length, data, zero }) => ({ start, length, data, zero }));
}

const peers = new Peers();
let dir: string;

beforeAll(() => {
  dir = tempDir('tsemu-nbd-client-');
});

afterAll(async () => {
  await peers.stop();
  cleanupDir(dir);
});

describe('against qemu-nbd 7.2', () => {
  let image: string;
  let sock: string;
  let uri: string;

  beforeAll(async () => {
    image = join(dir, 'disk.raw');
    sock = join(dir, 'qemu.sock');
    writeFileSync(image, new Uint8Array(0));
    const r = await run('qemu-img', ['create', '-f', 'raw', image, '8M']);
    expect(r.code).toBe(0);
    await run('qemu-io', ['-f', 'raw', '-c', 'write -P 0xab 0 64k', '-c', 'write -P 0xcd 1M 64k', image]);
    await peers.qemuNbd(sock, ['-f', 'raw', '-t', '-e', '4', '-x', 'disk', '--discard=unmap', image]);
    uri = `nbd+unix:///disk?socket=${sock}`;
  });

  it('reads what qemu-io wrote, writes, zeroes, trims and flushes', async () => {
    const blk = await openImage({ filename: uri, format: 'raw' });
    try {
      expect(await blk.getLength()).toBe(8 << 20);
      const head = new Uint8Array(65536 + 16);
      await blk.read(0, head);
      expect(head.subarray(0, 65536).every((b) => b === 0xab)).toBe(true);
      expect(head.subarray(65536).every((b) => b === 0)).toBe(true);
      const data = pattern(300_000, 1);
      await blk.write(3 << 20, data);
      await blk.write(5 << 20, pattern(4096, 2), { fua: true });
      await blk.writeZeroes((1 << 20) + 4096, 8192);
      await blk.discard(1 << 20, 4096);
      await blk.flush();
      const back = new Uint8Array(data.byteLength);
      await blk.read(3 << 20, back);
      expect(back).toEqual(data);
    } finally {
      await blk.close();
    }
    const file = readFileSync(image);
    expect(file.subarray(3 << 20, (3 << 20) + 300_000)).toEqual(Buffer.from(pattern(300_000, 1)));
    expect(file.subarray((1 << 20) + 4096, (1 << 20) + 12288).every((b) => b === 0)).toBe(true);
    expect(file.subarray((1 << 20) + 12288, (1 << 20) + 16384).every((b) => b === 0xcd)).toBe(true);
  });

  it('block status equals qemu-img map through the same server', async () => {
    const blk = await openImage({ filename: uri, format: 'raw', readOnly: true });
    try {
      expect(await ourMap(blk)).toEqual(await qemuImgMap(uri));
    } finally {
      await blk.close();
    }
  });

  it('pipelines 64 requests over 16 slots and reports the server maximum block of 32 MiB', async () => {
    const client = await NbdClient.connect({ type: 'unix', path: sock }, 'disk');
    try {
      const bufs = Array.from({ length: 64 }, () => new Uint8Array(4096));
      await Promise.all(bufs.map((b, i) => client.read(i * 4096, 4096, [b])));
      expect(bufs[0]!.every((b) => b === 0xab)).toBe(true);
      expect(client.info.maxBlock).toBe(32 << 20);
    } finally {
      await client.close();
    }
  });

  it('refuses an unknown export with QEMU\'s message', async () => {
    await expect(openImage({ filename: `nbd+unix:///nope?socket=${sock}`, format: 'raw' }))
      .rejects.toThrow(/Requested export not available/);
  });
});

describe('against qemu-nbd over TCP, with every way of naming the export', () => {
  let port: number;
  let image: string;

  beforeAll(async () => {
    image = join(dir, 'tcp.raw');
    await run('qemu-img', ['create', '-f', 'raw', image, '1M']);
    await run('qemu-io', ['-f', 'raw', '-c', 'write -P 0x5a 0 4k', image]);
    port = await freePort();
    const child = peers.start('qemu-nbd', ['-f', 'raw', '-t', '-r', '-b', '127.0.0.1', '-p', String(port), '-x', 'ex', image]);
    const end = Date.now() + 10_000;
    for (;;) {
      try {
        const c = await NbdClient.connect({ type: 'inet', host: '127.0.0.1', port }, 'ex');
        await c.close();
        break;
      } catch (err) {
        if (Date.now() > end || child.exitCode !== null) throw err;
        await new Promise((r) => setTimeout(r, 50));
      }
    }
  });

  const forms = (p: number): { filename?: string; options?: Record<string, string>; imageOpts?: string }[] => [
    { filename: `nbd://127.0.0.1:${p}/ex` },
    { filename: `nbd+tcp://127.0.0.1:${p}/ex` },
    { filename: `nbd:127.0.0.1:${p}:exportname=ex` },
    { imageOpts: `driver=nbd,server.type=inet,server.host=127.0.0.1,server.port=${p},export=ex` },
  ];

  it('opens the same export through URI, legacy and --image-opts syntax', async () => {
    for (const f of forms(port)) {
      const blk = f.imageOpts
        ? await openImage({ filename: f.imageOpts, imageOpts: true, readOnly: true })
        : await openImage({ filename: f.filename, format: 'raw', readOnly: true });
      try {
        const b = new Uint8Array(4);
        await blk.read(4092, b);
        expect([...b]).toEqual([0x5a, 0x5a, 0x5a, 0x5a]);
      } finally {
        await blk.close();
      }
    }
  });

  it('a read-only export: opening read-write fails, writes through a read-only open are EPERM', async () => {
    await expect(openImage({ filename: `nbd://127.0.0.1:${port}/ex`, format: 'raw' })).rejects.toThrow('Could not open image: Permission denied');
    const blk = await openImage({ filename: `nbd://127.0.0.1:${port}/ex`, format: 'raw', readOnly: true });
    await expect(blk.write(0, new Uint8Array(1))).rejects.toMatchObject({ code: 'EPERM' });
    await blk.close();
  });

  it('names the address when nothing listens', async () => {
    const closed = await freePort();
    await expect(openImage({ filename: `nbd://127.0.0.1:${closed}`, format: 'raw' }))
      .rejects.toThrow(`Failed to connect to '127.0.0.1:${closed}': Connection refused`);
    await expect(openImage({ filename: `nbd:unix:${join(dir, 'missing.sock')}`, format: 'raw' }))
      .rejects.toThrow(`Failed to connect to '${join(dir, 'missing.sock')}': No such file or directory`);
  });
});

describe('against nbdkit (memory plugin)', () => {
  it('round-trips data and matches qemu-img map', async () => {
    const sock = join(dir, 'kit.sock');
    await peers.nbdkit(sock, ['memory', '16M']);
    const uri = `nbd+unix:///?socket=${sock}`;
    const blk = await openImage({ filename: uri, format: 'raw' });
    try {
      const data = pattern(1 << 20, 3);
      await blk.write(2 << 20, data);
      await blk.writeZeroes(2 << 20, 4096, { mayUnmap: true });
      await blk.discard(8 << 20, 1 << 20);
      await blk.flush();
      const back = new Uint8Array(1 << 20);
      await blk.read(2 << 20, back);
      expect(back.subarray(0, 4096).every((b) => b === 0)).toBe(true);
      expect(back.subarray(4096)).toEqual(data.subarray(4096));
      expect(await ourMap(blk)).toEqual(await qemuImgMap(uri));
    } finally {
      await blk.close();
    }
  });
});

describe('requests larger than the 32 MiB maximum block', () => {
  it('are split into several NBD requests and land intact', async () => {
    const sock = join(dir, 'big.sock');
    await peers.nbdkit(sock, ['memory', '48M']);
    const blk = await openImage({ filename: `nbd+unix:///?socket=${sock}`, format: 'raw' });
    try {
      const data = pattern(40 << 20, 11);
      await blk.write(4096, data);
      const back = new Uint8Array(40 << 20);
      await blk.read(4096, back);
      expect(Buffer.compare(Buffer.from(back), Buffer.from(data))).toBe(0);
    } finally {
      await blk.close();
    }
  });
});

describe('against nbdkit (file plugin)', () => {
  it('reads the file\'s bytes and reports its holes as qemu-img map does', async () => {
    const file = join(dir, 'kitfile.raw');
    await run('qemu-img', ['create', '-f', 'raw', file, '4M']);
    await run('qemu-io', ['-f', 'raw', '-c', 'write -P 0x3c 1M 128k', file]);
    const sock = join(dir, 'kitfile.sock');
    await peers.nbdkit(sock, ['file', `file=${file}`]);
    const uri = `nbd+unix:///?socket=${sock}`;
    const blk = await openImage({ filename: uri, format: 'raw', readOnly: true });
    try {
      const all = new Uint8Array(4 << 20);
      await blk.read(0, all);
      expect(Buffer.compare(Buffer.from(all), readFileSync(file))).toBe(0);
      const map = await ourMap(blk);
      expect(map).toEqual(await qemuImgMap(uri));
      expect(map.some((e) => !e.data)).toBe(true);
    } finally {
      await blk.close();
    }
  });
});

describe('when the server goes away', () => {
  it('fails in-flight and later requests with EIO instead of hanging', async () => {
    const sock = join(dir, 'gone.sock');
    const child = await peers.nbdkit(sock, ['memory', '1M']);
    const blk = await openImage({ filename: `nbd+unix:///?socket=${sock}`, format: 'raw' });
    const b = new Uint8Array(512);
    await blk.read(0, b);
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));
    const err = await blk.read(0, b).then(() => null, (e: unknown) => e);
    expect(err).toBeInstanceOf(BlockError);
    expect((err as BlockError).code).toBe('EIO');
    await blk.close();
  });
});
