// `pnpm bench sheepdog`: the cost of each durability level. Sequential 4 MiB
// writes and 4 KiB random writes through block-core on Sheepdog, in each
// cache mode, against the raw-file path in the same mode (the "qemu" column
// here: real QEMU dropped sheepdog in 6.0).
//
// The peer is the tsemu-sheepd bin in its own process (as a real sheep
// daemon would be), started with --sync: whatever reaches its store (a
// FLUSH_VDI, a DIRECT write) is fdatasync'ed, as sheep's O_DSYNC backend
// does, so sheepdog pays for durability where the raw file pays its fsync.
// verify asks the peer (over the fork IPC channel) for its request log and
// checks the flag on every object request and the FLUSH_VDI count.
//
// The writeback cases run twice: over TCP on 127.0.0.1 (sheepdog://, how
// QEMU 1.4 reached sheep) and over a unix socket (sheepdog+unix://, QEMU
// 1.5's way to reach a daemon on the same host); the other modes over TCP.
import { fork, spawn, type ChildProcess } from 'node:child_process';
import { connect } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { rm } from 'node:fs/promises';
import { openImage, createImage, type BlockBackend } from '@tsemu/block-core';
import { registerSheepdog, newVdi, SD_OP_FLUSH_VDI, SD_OP_WRITE_OBJ, SD_OP_CREATE_AND_WRITE_OBJ, SD_OP_DISCARD_OBJ, SD_FLAG_CMD_CACHE, SD_FLAG_CMD_DIRECT, SD_FLAG_CMD_WRITE } from '@tsemu/block-sheepdog';
import { defineBench, seededOffsets, type BenchCase, type BenchContext } from '../../bench-harness/src/index.js';

registerSheepdog();

const SIZE = 256 << 20;
const SEQ_BYTES = 64 << 20;
const RANDOM_WRITES = 1000;
const MODES = ['writeback', 'writethrough', 'directsync', 'none', 'unsafe'] as const;
type Mode = (typeof MODES)[number];
const PEER_BIN = fileURLToPath(new URL('../bin/tsemu-sheepd.js', import.meta.url));

type Transport = 'tcp' | 'unix';
interface Peer { child: ChildProcess; port: number; socket: string | null }
let peer: Peer | null = null;
let vdiCount = 0;
let currentVdi = '';
let guestWrites = 0;
/** The peer's CPU time (us) when the timed run started: verify prints what the daemon spent. */
let peerCpuAtStart = 0;
let guestBytes = 0;

/** Sends one IPC message and waits for the answer of type `reply`. */
function ask<T>(p: Peer, type: string, reply: string): Promise<T> {
  return new Promise((resolve) => {
    const on = (msg: { type?: string }): void => {
      if (msg?.type !== reply) return;
      p.child.off('message', on);
      resolve(msg as T);
    };
    p.child.on('message', on);
    p.child.send({ type });
  });
}

async function ensurePeer(dir: string, transport: Transport): Promise<Peer> {
  if (peer) return peer;
  const socket = transport === 'unix' ? join(dir, 'sheep.sock') : null;
  const where = socket ? ['--socket', socket] : ['--port', '0'];
  if (socket) await rm(socket, { force: true });
  const child = fork(PEER_BIN, ['--dir', join(dir, 'sheep'), ...where, '--sync'], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
  const port = await new Promise<number>((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`tsemu-sheepd exited with ${code}`)));
    child.on('message', (msg: { type?: string; port?: number }) => { if (msg?.type === 'ready') resolve(msg.port!); });
  });
  peer = { child, port, socket };
  return peer;
}

async function stopPeer(): Promise<void> {
  const p = peer;
  peer = null;
  if (!p) return;
  const exited = new Promise((resolve) => p.child.once('exit', resolve));
  p.child.disconnect(); // the peer flushes, closes its store and exits
  await exited;
}

type Workload = 'seq' | 'rand' | 'rand-qd16';
/** Guest requests in flight for the queue-depth workload (a virtio-blk queue's worth, as QEMU's benches use). */
const QUEUE_DEPTH = 16;

/** Writes `offsets` with up to QUEUE_DEPTH requests in flight: one loop per slot, as a guest's queue would. */
async function writeQueued(bb: BlockBackend, offsets: number[], buf: Uint8Array): Promise<void> {
  let next = 0;
  const slot = async (): Promise<void> => {
    while (next < offsets.length) {
      const off = offsets[next++]!;
      await bb.write(off, buf);
      guestWrites++;
      guestBytes += buf.length;
    }
  };
  await Promise.all(Array.from({ length: QUEUE_DEPTH }, slot));
}

async function run(bb: BlockBackend, workload: Workload): Promise<void> {
  guestWrites = 0;
  guestBytes = 0;
  if (workload === 'seq') {
    const buf = new Uint8Array(4 << 20).fill(0x5a);
    for (let off = 0; off < SEQ_BYTES; off += buf.length) {
      await bb.write(off, buf);
      guestWrites++;
      guestBytes += buf.length;
    }
  } else if (workload === 'rand') {
    const buf = new Uint8Array(4096).fill(0xa5);
    for (const off of seededOffsets(RANDOM_WRITES, SIZE, 4096, 42)) {
      await bb.write(off, buf);
      guestWrites++;
      guestBytes += buf.length;
    }
  } else {
    await writeQueued(bb, seededOffsets(RANDOM_WRITES * 4, SIZE, 4096, 43), new Uint8Array(4096).fill(0xa5));
  }
  await bb.close();
}

function sheepdogSide(mode: Mode, workload: Workload, transport: Transport) {
  return async (ctx: BenchContext): Promise<void> => {
    const p = await ensurePeer(ctx.dir, transport);
    const filename = p.socket ? `sheepdog+unix:///${currentVdi}?socket=${p.socket}` : `sheepdog://127.0.0.1:${p.port}/${currentVdi}`;
    await run(await openImage({ filename, format: 'raw', cache: mode }), workload);
  };
}

function fileSide(mode: Mode, workload: Workload) {
  return async (ctx: BenchContext): Promise<void> => {
    await run(await openImage({ filename: join(ctx.dir, 'disk.raw'), format: 'raw', cache: mode }), workload);
  };
}

/** Checks the peer's log for one timed run: the mode's flag everywhere, and the FLUSH_VDI count it promises. */
async function verifySheepdog(mode: Mode, ms: number): Promise<void> {
  const { traffic, cpuUs } = await ask<{ traffic: Array<[number, number, number]>; cpuUs: number }>(peer!, 'stats', 'stats');
  const flag = mode === 'directsync' || mode === 'none' ? SD_FLAG_CMD_DIRECT : SD_FLAG_CMD_CACHE;
  let flushes = 0;
  let dataWrites = 0;
  for (const [opcode, flags, count] of traffic) {
    if (opcode === SD_OP_FLUSH_VDI) flushes += count;
    if (opcode === SD_OP_CREATE_AND_WRITE_OBJ || opcode === SD_OP_WRITE_OBJ) dataWrites += count;
    const want = opcode === SD_OP_CREATE_AND_WRITE_OBJ || opcode === SD_OP_WRITE_OBJ ? SD_FLAG_CMD_WRITE | flag : flag;
    const objectRequest = opcode <= SD_OP_DISCARD_OBJ || opcode === SD_OP_FLUSH_VDI; // VDI ops carry no cache flag
    if (objectRequest && flags !== want) {
      throw new Error(`${mode}: ${count} requests of opcode ${opcode} with flags 0x${flags.toString(16)}, expected 0x${want.toString(16)}`);
    }
  }
  // writethrough: one FLUSH_VDI per guest write, plus the one at close; writeback: only close's; DIRECT / unsafe: none.
  const expected = mode === 'writethrough' ? guestWrites + 1 : mode === 'writeback' ? 1 : 0;
  if (flushes !== expected) throw new Error(`${mode}: ${flushes} FLUSH_VDI for ${guestWrites} writes, expected ${expected}`);
  if (dataWrites < guestWrites) throw new Error(`${mode}: only ${dataWrites} writes on the wire for ${guestWrites} guest writes`);
  progress(`${mode}: ${guestWrites} writes, ${flushes} FLUSH_VDI (${(flushes / guestWrites).toFixed(2)} per write), ${(guestBytes / 1048576 / (ms / 1000)).toFixed(1)} MiB/s, peer CPU ${((cpuUs - peerCpuAtStart) / 1000).toFixed(0)} ms`);
}

function progress(line: string): void {
  process.stderr.write(`  ${line}\n`);
}

function benchCase(mode: Mode, workload: Workload, transport: Transport = 'tcp'): BenchCase {
  const labels: Record<Workload, string> = { seq: 'seq 4 MiB', rand: 'rand 4 KiB', 'rand-qd16': `rand 4 KiB qd${QUEUE_DEPTH}` };
  let t0 = 0;
  return {
    label: `${labels[workload]} ${mode}${transport === 'unix' ? ' (unix socket)' : ''}`,
    tsemu: sheepdogSide(mode, workload, transport),
    qemu: fileSide(mode, workload),
    goal: mode === 'writeback' ? 1.2 : null,
    async prepare(ctx, side) {
      if (side === 'tsemu') {
        const p = await ensurePeer(ctx.dir, transport);
        currentVdi = `bench${++vdiCount}`;
        await newVdi(p.socket ? { path: p.socket } : { host: '127.0.0.1', port: p.port }, currentVdi, SIZE, 0, false);
        peerCpuAtStart = (await ask<{ cpuUs: number }>(p, 'clear', 'cleared')).cpuUs;
      } else {
        await rm(join(ctx.dir, 'disk.raw'), { force: true });
        await createImage({ filename: join(ctx.dir, 'disk.raw'), format: 'raw', size: SIZE });
      }
      t0 = performance.now();
    },
    async verify(_ctx, side) {
      // Throughput from prepare's end to here: the timed run plus a few microseconds.
      const ms = performance.now() - t0;
      if (side === 'tsemu') await verifySheepdog(mode, ms);
      else progress(`raw file ${mode}: ${(guestBytes / 1048576 / (ms / 1000)).toFixed(1)} MiB/s`);
    },
    async teardown() {
      // The next case starts a fresh peer on the same folder, so a filtered run never leaves one behind.
      await stopPeer();
    },
  };
}

/**
 * The floor under the queue-depth-1 writeback goal: the same 1000 requests
 * (a 48-byte header + 4 KiB out, a 48-byte reply back) to a peer process that
 * answers each at once, with no driver, no block layer and no store on
 * either side. Whatever a Node client and peer do on top comes on top of this.
 */
const ECHO_PEER = `const s = require('net').createServer((c) => { c.setNoDelay(true); let n = 0;
  c.on('data', (d) => { n += d.length; while (n >= 4144) { n -= 4144; c.write(Buffer.alloc(48)); } }); });
s.listen(0, '127.0.0.1', () => process.stdout.write(s.address().port + '\\n'));`;

let echoPeer: ChildProcess | null = null;
let echoPort = 0;

/** Starts the echo peer (untimed, from prepare) unless it runs already. */
async function ensureEchoPeer(): Promise<void> {
  if (echoPeer) return;
  echoPeer = spawn(process.execPath, ['-e', ECHO_PEER], { stdio: ['ignore', 'pipe', 'inherit'] });
  echoPort = await new Promise<number>((resolve, reject) => {
    echoPeer!.once('exit', (code) => reject(new Error(`echo peer exited with ${code}`)));
    echoPeer!.stdout!.once('data', (d: Buffer) => resolve(Number(d.toString().trim())));
  });
}

async function roundTrips(): Promise<void> {
  const sock = connect(echoPort, '127.0.0.1');
  sock.setNoDelay(true);
  await new Promise<void>((resolve, reject) => { sock.once('connect', resolve); sock.once('error', reject); });
  const request = new Uint8Array(48 + 4096).fill(0xa5);
  await new Promise<void>((resolve, reject) => {
    let sent = 0;
    let pending = 0;
    sock.on('error', reject);
    sock.on('data', (d: Buffer) => {
      pending += d.length;
      while (pending >= 48) {
        pending -= 48;
        if (sent === RANDOM_WRITES) return resolve();
        sent++;
        sock.write(request);
      }
    });
    sent++;
    sock.write(request);
  });
  sock.destroy();
}

const floorCase: BenchCase = {
  label: 'rand 4 KiB round trips only (floor: no driver, peer answers at once)',
  tsemu: roundTrips,
  qemu: fileSide('writeback', 'rand'),
  goal: null,
  async prepare(ctx, side) {
    if (side === 'tsemu') {
      await ensureEchoPeer();
    } else {
      await rm(join(ctx.dir, 'disk.raw'), { force: true });
      await createImage({ filename: join(ctx.dir, 'disk.raw'), format: 'raw', size: SIZE });
    }
  },
  teardown() {
    echoPeer?.kill();
    echoPeer = null;
  },
};

export default defineBench({
  name: 'sheepdog cache modes (sheepdog vs raw file)',
  cases: [
    ...(['seq', 'rand', 'rand-qd16'] as const).flatMap((w) => [...MODES.map((m) => benchCase(m, w)), benchCase('writeback', w, 'unix')]),
    floorCase,
  ],
});
