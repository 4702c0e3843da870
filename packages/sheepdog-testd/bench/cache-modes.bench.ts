// `pnpm bench sheepdog`: the cost of each durability level. Sequential 4 MiB
// writes and 4 KiB random writes through block-core, on Sheepdog (the test
// peer, in-process) in each cache mode, against the raw-file path in the
// same mode (the "qemu" column here: real QEMU dropped sheepdog in 6.0).
// verify checks the flushes on the wire are exactly what the mode promises.
import { join } from 'node:path';
import { rm } from 'node:fs/promises';
import { openImage, createImage, type BlockBackend } from '@tsemu/block-core';
import { registerSheepdog, newVdi, SD_OP_FLUSH_VDI, SD_OP_WRITE_OBJ, SD_OP_CREATE_AND_WRITE_OBJ } from '@tsemu/block-sheepdog';
import { defineBench, seededOffsets, type BenchCase, type BenchContext } from '../../bench-harness/src/index.js';
import { SheepdogTestServer } from '../src/index.js';

registerSheepdog();

const SIZE = 256 << 20;
const SEQ_BYTES = 64 << 20;
const RANDOM_WRITES = 1000;
const MODES = ['writeback', 'writethrough', 'directsync', 'none', 'unsafe'] as const;
type Mode = (typeof MODES)[number];

let peer: SheepdogTestServer | null = null;
let vdiCount = 0;
let currentVdi = '';
let guestWrites = 0;

async function ensurePeer(dir: string): Promise<SheepdogTestServer> {
  peer ??= await SheepdogTestServer.start({ dir: join(dir, 'sheep') });
  return peer;
}

async function run(bb: BlockBackend, workload: 'seq' | 'rand'): Promise<void> {
  guestWrites = 0;
  if (workload === 'seq') {
    const buf = new Uint8Array(4 << 20).fill(0x5a);
    for (let off = 0; off < SEQ_BYTES; off += buf.length) {
      await bb.write(off, buf);
      guestWrites++;
    }
  } else {
    const buf = new Uint8Array(4096).fill(0xa5);
    for (const off of seededOffsets(RANDOM_WRITES, SIZE, 4096, 42)) {
      await bb.write(off, buf);
      guestWrites++;
    }
  }
  await bb.close();
}

function sheepdogSide(mode: Mode, workload: 'seq' | 'rand') {
  return async (ctx: BenchContext): Promise<void> => {
    const p = await ensurePeer(ctx.dir);
    await run(await openImage({ filename: p.uri(currentVdi), format: 'raw', cache: mode }), workload);
  };
}

function fileSide(mode: Mode, workload: 'seq' | 'rand') {
  return async (ctx: BenchContext): Promise<void> => {
    await run(await openImage({ filename: join(ctx.dir, 'disk.raw'), format: 'raw', cache: mode }), workload);
  };
}

function benchCase(mode: Mode, workload: 'seq' | 'rand'): BenchCase {
  return {
    label: `${workload === 'seq' ? 'seq 4 MiB' : 'rand 4 KiB'} ${mode}`,
    tsemu: sheepdogSide(mode, workload),
    qemu: fileSide(mode, workload),
    goal: mode === 'writeback' ? 1.2 : null,
    async prepare(ctx, side) {
      if (side === 'tsemu') {
        const p = await ensurePeer(ctx.dir);
        currentVdi = `bench${++vdiCount}`;
        await newVdi({ host: '127.0.0.1', port: p.port }, currentVdi, SIZE, 0, false);
        p.log.clear();
      } else {
        await rm(join(ctx.dir, 'disk.raw'), { force: true });
        await createImage({ filename: join(ctx.dir, 'disk.raw'), format: 'raw', size: SIZE });
      }
    },
    verify(_ctx, side) {
      if (side !== 'tsemu' || !peer) return;
      const log = peer.log.list();
      const flushes = log.filter((e) => e.opcode === SD_OP_FLUSH_VDI).length;
      const dataWrites = log.filter((e) => e.opcode === SD_OP_CREATE_AND_WRITE_OBJ || (e.opcode === SD_OP_WRITE_OBJ && !e.oid.startsWith('8'))).length;
      // writethrough: one FLUSH_VDI per guest write, plus the one at close; writeback: only close's; DIRECT / unsafe: none.
      const expected = mode === 'writethrough' ? guestWrites + 1 : mode === 'writeback' ? 1 : 0;
      if (flushes !== expected) throw new Error(`${mode}: ${flushes} FLUSH_VDI for ${guestWrites} writes, expected ${expected}`);
      if (dataWrites < guestWrites) throw new Error(`${mode}: only ${dataWrites} data writes on the wire for ${guestWrites} guest writes`);
      process.stderr.write(`  ${mode}: ${guestWrites} writes, ${flushes} FLUSH_VDI (${(flushes / guestWrites).toFixed(2)} per write)\n`);
    },
    async teardown() {
      // Closed after every case (the next one restarts it on the same folder) so a filtered run never leaves it listening.
      await peer?.close();
      peer = null;
    },
  };
}

export default defineBench({
  name: 'sheepdog cache modes (sheepdog vs raw file)',
  cases: [...MODES.map((m) => benchCase(m, 'seq')), ...MODES.map((m) => benchCase(m, 'rand'))],
});
