// The design's durability proof: SIGKILL the writer process mid-stream and
// lose the daemon's cache; what was promised must still be there.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { startPeer, createVdi, openVdi, type Peer } from './helpers.js';

const CHUNK = 64 * 1024;
const SIZE = 16 << 20;
const WRITER = fileURLToPath(new URL('./fixtures/writer.ts', import.meta.url));
const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

let peer: Peer;
beforeAll(async () => {
  peer = await startPeer();
});
afterAll(async () => {
  await peer.cleanup();
});

/** Runs the writer until `acks` writes were acknowledged, then SIGKILLs it. Returns the last ack and last flushed index. */
function runAndKill(uri: string, mode: string, flushEvery: number, acks: number): Promise<{ lastAck: number; lastFlushed: number }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--conditions=source', '--import', 'tsx', WRITER, uri, mode, String(flushEvery)], {
      cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'],
    });
    let lastAck = -1;
    let lastFlushed = -1;
    let pending = '';
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.stdout.on('data', (d: Buffer) => {
      pending += d.toString();
      const lines = pending.split('\n');
      pending = lines.pop()!;
      for (const line of lines) {
        const [what, n] = line.split(' ');
        if (what === 'ACK') lastAck = Number(n);
        if (what === 'FLUSHED') lastFlushed = Number(n);
        if ((lastAck >= acks || what === 'DONE') && child.exitCode === null && !child.killed) child.kill('SIGKILL');
      }
    });
    child.on('exit', (_code, signal) => {
      if (signal !== 'SIGKILL') reject(new Error(`writer ended without SIGKILL: ${stderr}`));
      else resolve({ lastAck, lastFlushed });
    });
  });
}

async function survivors(name: string): Promise<Uint8Array> {
  const bb = await openVdi(peer.server, name, 'directsync');
  const buf = new Uint8Array(SIZE);
  await bb.read(0, buf);
  await bb.close();
  return buf;
}

function chunkIntact(buf: Uint8Array, i: number): boolean {
  const v = (i % 251) + 1;
  for (let j = i * CHUNK; j < (i + 1) * CHUNK; j++) if (buf[j] !== v) return false;
  return true;
}

describe('SIGKILL the writer, then lose the daemon cache', () => {
  for (const mode of ['writethrough', 'directsync', 'writeback']) {
    it(`${mode}: what was promised survives`, async () => {
      const name = `kill-${mode}`;
      await createVdi(peer.server, name, SIZE);
      const { lastAck, lastFlushed } = await runAndKill(peer.server.uri(name), mode, mode === 'writeback' ? 7 : 0, 80);
      expect(lastAck).toBeGreaterThanOrEqual(80);
      await peer.server.loseCache();
      const buf = await survivors(name);
      // writeback promises only what a completed flush covered; the others promise every ack.
      const promised = mode === 'writeback' ? lastFlushed : lastAck;
      expect(promised).toBeGreaterThan(0);
      for (let i = 0; i <= promised; i++) {
        if (!chunkIntact(buf, i)) expect.fail(`${mode}: acknowledged chunk ${i} lost (last ack ${lastAck}, last flush ${lastFlushed})`);
      }
    });
  }
});
