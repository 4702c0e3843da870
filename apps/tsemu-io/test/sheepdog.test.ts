// Issue 5, proof 3 (tsemu-io half): qemu-io patterns on sheepdog names, run
// through the real tsemu-io bin against the tsemu-sheepd peer, in each cache
// mode. Writes, readv/writev, aio_write, write -z, discard and flush straddle
// 4 MiB object boundaries; the peer's request log shows the cache flag on
// every object request and exactly the FLUSH_VDI count the mode promises.
// The peer runs in this process (its log is read directly) and tsemu-io is
// spawned asynchronously, so the peer keeps answering while the tool runs.
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
// By path: this app does not depend on the peer or the driver package.
import { SheepdogTestServer, type LoggedRequest } from '../../../packages/sheepdog-testd/src/index.js';
import { newVdi, oidToHex, dataOidHi, inodeOidHi } from '../../../packages/block-sheepdog/src/index.js';
import { TSEMU_IO } from './harness.js';

const CREATE = 0x01, READ = 0x02, WRITE = 0x03, DISCARD = 0x05, FLUSH = 0x16;
const F_WRITE = 0x01, F_CACHE = 0x04, F_DIRECT = 0x08;
const M4 = 4 << 20;

interface IoResult { stdout: string; stderr: string; code: number | null }

/** Spawns tsemu-io without blocking this process's event loop (the peer lives here). */
function tsemuIo(args: string[]): Promise<IoResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(TSEMU_IO, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d));
    child.stderr.on('data', (d: Buffer) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ stdout, stderr, code }));
  });
}

/**
 * The script: every request crosses (or ends exactly at) a 4 MiB boundary.
 * Guest write requests: write, writev, aio_write, write -z, write 4M = 5;
 * guest flushes: `flush` = 1 (aio_flush only drains, as in qemu-io).
 */
const SCRIPT = [
  'write -P 0xab 4194000 1000', // objects 0 | 1
  'read -P 0xab 4194000 1000',
  'writev -P 0xcd 8388000 300 300 300', // objects 1 | 2
  'readv -P 0xcd 8388000 450 450',
  'aio_write -P 0x11 12582000 1000', // objects 2 | 3
  'aio_flush',
  'read -P 0x11 12582000 1000',
  'write -z 12582800 150', // objects 2 | 3, inside the aio_write range
  'read -P 0 12582800 150',
  'read -P 0x11 12582000 800',
  'read -P 0x11 12582950 50',
  'flush',
  'write -P 0x22 16777216 4194304', // exactly object 4
  'read -P 0x22 16777216 4194304',
  'read -P 0 0 4194000', // never written: zero-filled, no wire read
];
const GUEST_WRITES = 5;
const GUEST_FLUSHES = 1;

const MODES = ['writeback', 'writethrough', 'directsync', 'none', 'unsafe'] as const;
/** FLUSH_VDI on the wire per mode (spec 7.3): close flushes too, as bdrv_close does. */
const EXPECTED_FLUSHES: Record<(typeof MODES)[number], number> = {
  writeback: GUEST_FLUSHES + 1,
  writethrough: GUEST_WRITES + GUEST_FLUSHES + 1,
  directsync: 0,
  none: 0,
  unsafe: 0,
};

let dir: string;
let peer: SheepdogTestServer; // sheep 0.5.6 with its object cache, TCP on a port it picked
let cacheless: SheepdogTestServer; // sheep 1.0.1 on a unix socket: DISCARD_OBJ, no cache
let n = 0;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tsemu-io-sheep-'));
  peer = await SheepdogTestServer.start({ dir: join(dir, 'a') });
  cacheless = await SheepdogTestServer.start({ dir: join(dir, 'b'), flavour: '1.0.1', socketPath: join(dir, 'sock') });
});
afterAll(async () => {
  await peer.close();
  await cacheless.close();
  await rm(dir, { recursive: true, force: true });
});

async function freshVdi(server: SheepdogTestServer, size = 64 << 20): Promise<{ name: string; vid: number }> {
  const name = `io${++n}`;
  const address = server.opts.socketPath ? { path: server.opts.socketPath } : { host: '127.0.0.1', port: server.port };
  const vid = await newVdi(address, name, size, 0, false);
  server.log.clear();
  return { name, vid };
}

const objectOps = new Set([CREATE, READ, WRITE, DISCARD, FLUSH]);
const objects = (log: LoggedRequest[]): LoggedRequest[] => log.filter((e) => objectOps.has(e.opcode));

describe('tsemu-io on sheepdog, per cache mode', () => {
  for (const mode of MODES) {
    it(`${mode}: patterns across 4 MiB objects; wire flags and FLUSH_VDI count`, async () => {
      const { name, vid } = await freshVdi(peer);
      const args = ['-f', 'raw', '-t', mode];
      for (const c of SCRIPT) args.push('-c', c);
      const r = await tsemuIo([...args, peer.uri(name)]);
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      expect(r.stdout).not.toContain('Pattern verification failed');
      expect(r.stdout.match(/^(wrote|read) /gm)).toHaveLength(SCRIPT.length - 2); // all but aio_flush / flush report

      const log = objects(peer.log.list());
      const flag = mode === 'directsync' || mode === 'none' ? F_DIRECT : F_CACHE;
      // Every object request carries the mode's cache flag, and only that one.
      for (const e of log) {
        const want = e.opcode === CREATE || e.opcode === WRITE ? F_WRITE | flag : flag;
        expect([e.opcode, e.flags]).toEqual([e.opcode, want]);
      }
      expect(log.filter((e) => e.opcode === FLUSH)).toHaveLength(EXPECTED_FLUSHES[mode]);
      for (const f of log.filter((e) => e.opcode === FLUSH)) expect([f.oid, f.dataLength]).toEqual([oidToHex(inodeOidHi(vid), 0), 0]);
      // One create per touched object (0..4), each object created once, and the inode's data_vdi_id written.
      const creates = log.filter((e) => e.opcode === CREATE).map((e) => e.oid).sort();
      expect(creates).toEqual([0, 1, 2, 3, 4].map((i) => oidToHex(dataOidHi(vid), i)));
      expect(log.some((e) => e.opcode === WRITE && e.oid === oidToHex(inodeOidHi(vid), 0) && e.offset >= 4664)).toBe(true);
      // Nothing read from an object that was never written (zero-fill is local).
      expect(log.some((e) => e.opcode === READ && e.oid === oidToHex(dataOidHi(vid), 5))).toBe(false);

      // A second process sees the data (writeback / unsafe: from the daemon's cache; the rest: its store).
      const check = await tsemuIo(['-f', 'raw', '-t', mode, '-c', 'read -P 0xab 4194000 1000', '-c', 'read -P 0xcd 8388000 900',
        '-c', 'read -P 0 12582800 150', '-c', 'read -P 0x22 16777216 4194304', '-c', 'read -P 0 20971520 4194304', peer.uri(name)]);
      expect(check.stdout).not.toContain('Pattern verification failed');
      expect(check.code).toBe(0);
    });
  }
});

describe('tsemu-io discard and unix sockets', () => {
  it('discard of whole objects is DISCARD_OBJ (sheep 1.0.1, unix socket); they then read as zeros', async () => {
    const { name, vid } = await freshVdi(cacheless);
    const r = await tsemuIo(['-f', 'raw', '-t', 'none',
      '-c', 'write -P 0x33 4194300 8388616', // objects 0 | 1 | 2
      '-c', 'discard 4194304 4194304', // exactly object 1
      '-c', 'read -P 0 4194304 4194304',
      '-c', 'read -P 0x33 4194300 4',
      '-c', 'read -P 0x33 8388608 4194308',
      '-c', 'discard 0 100', // part of an object: nothing to drop
      '-c', 'read -P 0x33 4194300 4',
      cacheless.uri(name)]);
    expect(r.code).toBe(0);
    expect(r.stdout).not.toContain('Pattern verification failed');
    const discards = cacheless.log.list().filter((e) => e.opcode === DISCARD);
    expect(discards.map((e) => [e.oid, e.flags])).toEqual([[oidToHex(dataOidHi(vid), 1), F_DIRECT]]);
  });

  it('a daemon without DISCARD_OBJ (0.5.6): discard succeeds, the data stays, later discards stay local', async () => {
    const { name } = await freshVdi(peer);
    const r = await tsemuIo(['-f', 'raw', '-t', 'writeback',
      '-c', `write -P 0x44 0 ${2 * M4}`, '-c', `discard 0 ${2 * M4}`, '-c', `discard 0 ${M4}`, '-c', `read -P 0x44 0 ${2 * M4}`, peer.uri(name)]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`discard ${2 * M4}/${2 * M4} bytes at offset 0`);
    expect(r.stdout).not.toContain('Pattern verification failed');
    // The first DISCARD_OBJ is answered INVALID_PARMS: discard is off for the rest of the open.
    expect(peer.log.list().filter((e) => e.opcode === DISCARD).map((e) => e.result)).toEqual([0x05]);
  });

  it('VM state (write -b / read -b) goes to the VDI\'s VMSTATE objects, across an object boundary', async () => {
    const { name } = await freshVdi(peer);
    // As savevm writes it: from 0 on, so each object's first chunk creates it (QEMU 1.4's rule).
    const r = await tsemuIo(['-f', 'raw', '-t', 'writeback',
      '-c', `write -b -P 0x5c 0 ${M4 + 8192}`, '-c', `read -b -P 0x5c ${M4 - 4096} 8192`, '-c', 'read -P 0 0 8192', peer.uri(name)]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`wrote ${M4 + 8192}/${M4 + 8192} bytes at offset 0`);
    expect(r.stdout).not.toContain('Pattern verification failed');
    // Two VMSTATE objects created, none of the disk's data objects touched.
    const writes = peer.log.list().filter((e) => e.opcode === WRITE || e.opcode === CREATE);
    expect(writes.map((e) => [e.opcode, e.oid.slice(0, 2)])).toEqual([[CREATE, '40'], [CREATE, '40']]);
  });

  it('a missing VDI: one error line and exit 1, as qemu-io prints open failures', async () => {
    const r = await tsemuIo(['-f', 'raw', '-c', 'read 0 512', peer.uri('no-such-vdi')]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^qemu-io: can't open device sheepdog:\/\/127\.0\.0\.1:\d+\/no-such-vdi: .*No vdi found.*\n$/);
  });
});
