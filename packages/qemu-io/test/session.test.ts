import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BlockBackend } from '@tsemu/block-core';
import { afterAll, describe, expect, it } from 'vitest';
import { commandTable } from '../src/commands/index.js';
import { main } from '../src/index.js';
import { Output, type IoStreams } from '../src/output.js';
import { Session } from '../src/session.js';

function capture(): IoStreams & { text: () => { stdout: string; stderr: string } } {
  let stdout = '';
  let stderr = '';
  return {
    stdout: { write: (s: string) => (stdout += s) },
    stderr: { write: (s: string) => (stderr += s) },
    text: () => ({ stdout, stderr }),
  };
}

/** An in-memory backend whose writes wait until released, to observe concurrency. */
class SlowBackend {
  readonly readOnly = false;
  readonly data = new Uint8Array(1 << 20);
  inFlight = 0;
  maxInFlight = 0;
  readonly seenBuffers: Uint8Array[] = [];
  private waiters: Array<() => void> = [];
  async getLength(): Promise<number> {
    return this.data.length;
  }
  async writev(offset: number, iov: Uint8Array[]): Promise<void> {
    this.inFlight++;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    await new Promise<void>((resolve) => this.waiters.push(resolve));
    for (const b of iov) {
      this.seenBuffers.push(b);
      this.data.set(b, offset);
      offset += b.length;
    }
    this.inFlight--;
  }
  write(offset: number, buf: Uint8Array): Promise<void> {
    return this.writev(offset, [buf]);
  }
  async read(offset: number, buf: Uint8Array): Promise<void> {
    buf.set(this.data.subarray(offset, offset + buf.length));
  }
  release(): void {
    const w = this.waiters;
    this.waiters = [];
    w.forEach((f) => f());
  }
  async close(): Promise<void> {}
}

function session(blk: SlowBackend): { s: Session; io: ReturnType<typeof capture> } {
  const io = capture();
  const s = new Session(new Output(io), commandTable());
  s.blk = blk as unknown as BlockBackend;
  return { s, io };
}

describe('aio requests', () => {
  it('run concurrently and report at aio_flush, latest first', async () => {
    const blk = new SlowBackend();
    const { s, io } = session(blk);
    expect(await s.runLine('aio_write -P 1 0 512')).toBe(0);
    expect(await s.runLine('aio_write -P 2 512 512')).toBe(0);
    expect(await s.runLine('aio_write -P 3 1k 512')).toBe(0);
    expect(blk.inFlight).toBe(3);
    const flushed = s.runLine('aio_flush');
    await new Promise((r) => setImmediate(r));
    blk.release();
    expect(await flushed).toBe(0);
    s.io.flush();
    expect(blk.maxInFlight).toBe(3);
    const offsets = [...io.text().stdout.matchAll(/^wrote 512\/512 bytes at offset (\d+)$/gm)].map((m) => m[1]);
    expect(offsets).toEqual(['1024', '512', '0']);
    expect(blk.data[0]).toBe(1);
    expect(blk.data[1024]).toBe(3);
  });
});

describe('buffer reuse on the hot path', () => {
  it('writes the same pattern from one shared buffer', async () => {
    const blk = new SlowBackend();
    const { s } = session(blk);
    for (let i = 0; i < 3; i++) {
      const p = s.runLine(`write -q -P 0xab ${i * 4096} 4k`);
      await new Promise((r) => setImmediate(r));
      blk.release();
      expect(await p).toBe(0);
    }
    expect(blk.seenBuffers).toHaveLength(3);
    expect(blk.seenBuffers[1].buffer).toBe(blk.seenBuffers[0].buffer);
    expect(blk.seenBuffers[2].buffer).toBe(blk.seenBuffers[0].buffer);
  });
});

describe('main() in-process', () => {
  const root = mkdtempSync(join(tmpdir(), 'qemu-io-main-'));
  afterAll(() => rmSync(root, { recursive: true, force: true }));
  const img = join(root, 'a.raw');

  it('runs -c commands in order, keeps going after a failure, exits 1', async () => {
    writeFileSync(img, new Uint8Array(1 << 20));
    const io = capture();
    const code = await main(['-f', 'raw', '-c', 'bogus', '-c', 'write -q -P 0x5a 0 4k', '-c', 'length', img], io);
    expect(code).toBe(1);
    expect(io.text()).toEqual({ stdout: '1 MiB\n', stderr: 'command "bogus" not found\n' });
    expect(readFileSync(img)[4095]).toBe(0x5a);
  });

  it('reads commands from stdin after a prompt', async () => {
    writeFileSync(img, new Uint8Array(1 << 20));
    const io = capture();
    io.stdin = (async function* () {
      yield 'length\nwrite -q -P 1 0 1\n';
      yield 'quit\nlength\n';
    })();
    expect(await main(['-f', 'raw', img], io)).toBe(0);
    expect(io.text().stdout).toBe('qemu-io> 1 MiB\nqemu-io> qemu-io> ');
  });

  it('prints usage and version without touching anything', async () => {
    const io = capture();
    expect(await main(['-V'], io)).toBe(0);
    expect(io.text().stdout).toMatch(/^qemu-io version 7\.2\.\d+ \(tsemu-io \d+\.\d+\.\d+\)\n/);
  });
});
