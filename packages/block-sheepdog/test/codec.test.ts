// Wire codec: header layout (little-endian, field offsets), oids, the vid
// hash, inode layout, and the frame state machine under arbitrary splits.
import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import {
  encodeObjRequest, encodeVdiRequest, decodeRequest, encodeReply, replyId, replyResult, replyVdiId, replyDataLength,
  FrameReader, SheepdogProtocolError, SD_HEADER_SIZE, SD_OP_WRITE_OBJ, SD_OP_LOCK_VDI, SD_FLAG_CMD_WRITE, SD_FLAG_CMD_CACHE,
  inodeOidHi, dataOidHi, vmstateOidHi, oidVid, oidToHex, vdiNameHash, SD_INODE_SIZE, SD_INODE_HEADER_SIZE,
  INODE_VDI_SIZE, INODE_DATA_VDI_ID, INODE_SNAP_ID, INODE_VDI_ID, encodeVdiNamePayload,
} from '../src/index.js';

describe('headers', () => {
  it('encodes an object request little-endian at the spec offsets', () => {
    const buf = Buffer.alloc(SD_HEADER_SIZE, 0xee);
    encodeObjRequest(buf, SD_OP_WRITE_OBJ, SD_FLAG_CMD_WRITE | SD_FLAG_CMD_CACHE, 0x01020304, 512,
      dataOidHi(0x411d9c), 5, dataOidHi(0x411d9b), 5, 3, 0x123456);
    expect(buf.readUInt8(0)).toBe(0); // proto_ver 0 on object requests
    expect(buf.readUInt8(1)).toBe(0x03);
    expect(buf.readUInt16LE(2)).toBe(0x05);
    expect(buf.readUInt32LE(4)).toBe(0); // epoch
    expect([...buf.subarray(8, 12)]).toEqual([0x04, 0x03, 0x02, 0x01]);
    expect(buf.readUInt32LE(12)).toBe(512);
    expect(buf.readBigUInt64LE(16)).toBe((0x411d9cn << 32n) | 5n);
    expect(buf.readBigUInt64LE(24)).toBe((0x411d9bn << 32n) | 5n);
    expect(buf.readUInt32LE(32)).toBe(3);
    expect(buf.readUInt32LE(36)).toBe(0);
    expect(buf.readBigUInt64LE(40)).toBe(0x123456n);
  });

  it('encodes a VDI request (proto_ver 1 on LOCK_VDI, vdi_size u64, base, copies, snapid)', () => {
    const buf = Buffer.alloc(SD_HEADER_SIZE, 0xee);
    encodeVdiRequest(buf, 1, SD_OP_LOCK_VDI, SD_FLAG_CMD_WRITE, 9, 512, 4 * 2 ** 40, 0xabcdef, 2, 7);
    const h = decodeRequest(buf);
    expect(h).toMatchObject({ protoVer: 1, opcode: 0x12, flags: 1, id: 9, dataLength: 512, vdiSize: 4 * 2 ** 40, baseVdiId: 0xabcdef, vdiCopies: 2, snapId: 7 });
    expect(buf.subarray(36).every((b) => b === 0)).toBe(true);
  });

  it('round-trips replies', () => {
    const buf = Buffer.alloc(SD_HEADER_SIZE);
    encodeReply(buf, 0x12, 0, 77, 0, 8, 0x411d9c);
    expect(buf.readUInt8(0)).toBe(0);
    expect([replyId(buf), replyResult(buf), replyVdiId(buf), replyDataLength(buf)]).toEqual([77, 8, 0x411d9c, 0]);
  });
});

describe('object ids and vids', () => {
  it('builds inode, data and vmstate oids', () => {
    expect(oidToHex(inodeOidHi(0x411d9c), 0)).toBe('80411d9c00000000');
    expect(oidToHex(dataOidHi(0x411d9c), 0xfffff)).toBe('00411d9c000fffff');
    expect(oidToHex(vmstateOidHi(0x411d9c), 3)).toBe('40411d9c00000003');
    expect(oidVid(inodeOidHi(0xfd32fc))).toBe(0xfd32fc);
  });

  it('hashes names with FNV-1a 64 (verified values from the spec)', () => {
    expect(vdiNameHash('wt2')).toBe(0x411d9c);
    expect(vdiNameHash('test1')).toBe(0xfd32fc);
  });

  it('has the inode layout of the spec', () => {
    expect(SD_INODE_SIZE).toBe(4_198_968);
    expect(SD_INODE_HEADER_SIZE).toBe(4664);
    expect([INODE_VDI_SIZE, INODE_SNAP_ID, INODE_VDI_ID, INODE_DATA_VDI_ID]).toEqual([536, 556, 560, 4664]);
    const p = encodeVdiNamePayload('disk', 'snap');
    expect(p.length).toBe(512);
    expect(p.toString('utf8', 0, 4)).toBe('disk');
    expect(p.toString('utf8', 256, 260)).toBe('snap');
  });
});

/** Collects frames; payload size comes from data_length, capped. */
class Collector extends FrameReader {
  frames: Array<{ id: number; payload: Buffer }> = [];
  error: string | null = null;
  constructor(private readonly cap: number) {
    super();
  }
  protected beginPayload(header: Buffer): Uint8Array | null {
    const n = replyDataLength(header);
    if (n > this.cap) throw new SheepdogProtocolError(`too long: ${n}`);
    return n ? Buffer.alloc(n) : null;
  }
  protected frameDone(header: Buffer, payload: Uint8Array | null): void {
    this.frames.push({ id: replyId(header), payload: Buffer.from(payload ?? []) });
  }
  protected readerFailed(err: SheepdogProtocolError): void {
    this.error = err.message;
  }
}

function frame(id: number, payload: Buffer): Buffer {
  const h = Buffer.alloc(SD_HEADER_SIZE);
  encodeReply(h, 2, 0, id, payload.length, 0, 0);
  return Buffer.concat([h, payload]);
}

describe('frame reader', () => {
  it('reassembles frames however the stream is split (seeded)', () => {
    const seed = Number(process.env.SD_SEED ?? Date.now() % 1e9);
    console.log(`frame reader property seed=${seed}`);
    fc.assert(
      fc.property(
        fc.array(fc.uint8Array({ maxLength: 300 }), { maxLength: 8 }),
        fc.array(fc.integer({ min: 1, max: 97 }), { minLength: 1, maxLength: 20 }),
        (payloads, cuts) => {
          const stream = Buffer.concat(payloads.map((p, i) => frame(i + 1, Buffer.from(p))));
          const r = new Collector(1000);
          let at = 0;
          for (let i = 0; at < stream.length; i++) {
            const n = cuts[i % cuts.length]!;
            r.push(stream.subarray(at, at + n));
            at += n;
          }
          expect(r.error).toBeNull();
          expect(r.idle).toBe(true);
          expect(r.frames.map((f) => f.id)).toEqual(payloads.map((_, i) => i + 1));
          r.frames.forEach((f, i) => expect(Buffer.compare(f.payload, Buffer.from(payloads[i]!))).toBe(0));
        },
      ),
      { seed, numRuns: 200 },
    );
  });

  it('reassembles frames read in place (onread) however the reads fall, big payloads straight into their buffer (seeded)', () => {
    const seed = Number(process.env.SD_SEED ?? Date.now() % 1e9) + 1;
    console.log(`frame reader in-place property seed=${seed}`);
    fc.assert(
      fc.property(
        // Sizes around the 64 KiB staging buffer, so reads go both ways.
        fc.array(fc.integer({ min: 0, max: 200_000 }), { maxLength: 6 }),
        fc.array(fc.integer({ min: 1, max: 150_000 }), { minLength: 1, maxLength: 12 }),
        fc.integer({ min: 0, max: 255 }),
        (sizes, reads, fill) => {
          const payloads = sizes.map((n, i) => Buffer.alloc(n, (fill + i) & 0xff).fill(i + 1, 0, Math.min(n, 7)));
          const stream = Buffer.concat(payloads.map((p, i) => frame(i + 1, p)));
          const r = new Collector(300_000);
          const staging = r.nextBuffer(); // between frames: the reused staging buffer
          let at = 0;
          let direct = 0;
          for (let i = 0; at < stream.length; i++) {
            // What a socket read does: up to the buffer's size, at most what has arrived.
            const into = r.nextBuffer();
            if (into !== staging) direct++;
            const n = Math.min(into.length, reads[i % reads.length]!, stream.length - at);
            into.set(stream.subarray(at, at + n));
            expect(r.onRead(n)).toBe(true);
            at += n;
          }
          expect(r.error).toBeNull();
          expect(r.idle).toBe(true);
          expect(r.frames.map((f) => f.id)).toEqual(payloads.map((_, i) => i + 1));
          r.frames.forEach((f, i) => expect(Buffer.compare(f.payload, payloads[i]!)).toBe(0));
          // A payload missing more than the staging buffer is read in place at least once.
          if (sizes.some((n) => n > 2 * 65536)) expect(direct).toBeGreaterThan(0);
        },
      ),
      { seed, numRuns: 100 },
    );
  });

  it('refuses an oversized length at the header, before any payload is buffered', () => {
    const r = new Collector(4096);
    const h = Buffer.alloc(SD_HEADER_SIZE);
    encodeReply(h, 2, 0, 1, 0xffffffff, 0, 0);
    r.push(h);
    expect(r.error).toMatch(/too long/);
    expect(r.failed).toBe(true);
    r.push(Buffer.alloc(100_000)); // ignored once failed
    expect(r.frames).toHaveLength(0);
  });
});
