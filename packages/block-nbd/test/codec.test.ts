// The wire codec on its own: every parser fed whole, byte by byte and in
// random splits must produce the same messages; bad magics, oversized and
// malformed payloads are refused without trusting their length fields.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  ByteQueue, NBD_CMD_FLAG_FUA, NBD_MAX_PAYLOAD, NbdChunk, NbdCommand, NbdOption, NbdOptionParser, NbdOptionReply,
  NbdOptionReplyParser, NbdProtocolError, NbdReplyParser, NbdRequest, NbdRequestParser, NbdInvalidOption,
  NBD_REPLY_FLAG_DONE, decodeInfoRequest, decodeMetaContextRequest, encodeInfoRequest, encodeMetaContextRequest,
  encodeOption, encodeOptionReply, writeRequestHeader, writeSimpleReply, writeStructuredHeader, type NbdInflight,
} from '../src/index.js';

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.byteLength;
  }
  return out;
}

function splitAt(bytes: Uint8Array, cuts: number[]): Uint8Array[] {
  const points = [...new Set(cuts.map((c) => c % (bytes.byteLength + 1)))].sort((a, b) => a - b);
  const out: Uint8Array[] = [];
  let prev = 0;
  for (const p of points) {
    out.push(bytes.subarray(prev, p));
    prev = p;
  }
  out.push(bytes.subarray(prev));
  return out;
}

function request(type: number, flags: number, handle: number, offset: number, length: number, payload?: Uint8Array): Uint8Array {
  const h = new Uint8Array(28);
  writeRequestHeader(new DataView(h.buffer), flags, type, 0, handle, offset, length);
  return payload ? concat([h, payload]) : h;
}

/** Feeds chunks one at a time and collects every parsed request. */
function parseRequests(chunks: Uint8Array[]): { type: number; handle: number; offset: number; length: number; data: number[] | null }[] {
  const q = new ByteQueue();
  const parser = new NbdRequestParser();
  const out: { type: number; handle: number; offset: number; length: number; data: number[] | null }[] = [];
  const req = new NbdRequest();
  for (const c of chunks) {
    q.push(c);
    while (parser.next(q, req)) {
      out.push({ type: req.type, handle: req.handleLo, offset: req.offset, length: req.length, data: req.data ? [...req.data] : null });
    }
  }
  return out;
}

describe('ByteQueue', () => {
  it('reads across chunk boundaries and peeks big-endian words split over chunks', () => {
    const q = new ByteQueue();
    q.push(new Uint8Array([0x12]));
    q.push(new Uint8Array([0x34, 0x56]));
    q.push(new Uint8Array([0x78, 9, 10]));
    expect(q.peekUint32()).toBe(0x12345678);
    const out = new Uint8Array(5);
    q.read(out, 0, 5);
    expect([...out]).toEqual([0x12, 0x34, 0x56, 0x78, 9]);
    expect(q.length).toBe(1);
    q.skip(1);
    expect(q.length).toBe(0);
  });
});

describe('NbdRequestParser', () => {
  const stream = concat([
    request(NbdCommand.READ, 0, 1, 4096, 512),
    request(NbdCommand.WRITE, NBD_CMD_FLAG_FUA, 2, 0, 5, new Uint8Array([1, 2, 3, 4, 5])),
    request(NbdCommand.FLUSH, 0, 3, 0, 0),
    request(NbdCommand.WRITE, 0, 4, 10, 0),
    request(NbdCommand.DISC, 0, 5, 0, 0),
  ]);
  const whole = parseRequests([stream]);

  it('parses a stream of requests with payloads', () => {
    expect(whole.map((r) => r.type)).toEqual([NbdCommand.READ, NbdCommand.WRITE, NbdCommand.FLUSH, NbdCommand.WRITE, NbdCommand.DISC]);
    expect(whole[1]!.data).toEqual([1, 2, 3, 4, 5]);
    expect(whole[3]!.data).toEqual([]);
  });

  it('gives the same result fed byte by byte', () => {
    expect(parseRequests([...stream].map((b) => new Uint8Array([b])))).toEqual(whole);
  });

  it('gives the same result for any split of the stream (property)', () => {
    fc.assert(fc.property(fc.array(fc.nat(), { maxLength: 20 }), (cuts) => {
      expect(parseRequests(splitAt(stream, cuts))).toEqual(whole);
    }), { seed: 4242, numRuns: 300 });
  });

  it('refuses a bad magic and stays refused', () => {
    const bad = request(NbdCommand.READ, 0, 1, 0, 1);
    bad[0] ^= 0xff;
    const q = new ByteQueue();
    q.push(bad);
    const parser = new NbdRequestParser();
    expect(() => parser.next(q, new NbdRequest())).toThrow(NbdProtocolError);
    expect(() => parser.next(q, new NbdRequest())).toThrow(NbdProtocolError);
  });

  it('does not buffer an oversized WRITE: it is flagged and the stream is poisoned', () => {
    const q = new ByteQueue();
    q.push(request(NbdCommand.WRITE, 0, 9, 0, NBD_MAX_PAYLOAD + 1));
    const parser = new NbdRequestParser();
    const req = new NbdRequest();
    expect(parser.next(q, req)).toBe(true);
    expect(req.oversized).toBe(true);
    expect(req.data).toBeNull();
    expect(() => parser.next(q, req)).toThrow(NbdProtocolError);
  });

  it('reads a 64-bit offset above 2^53 as Infinity (never in range)', () => {
    const h = request(NbdCommand.READ, 0, 1, 0, 1);
    h.fill(0xff, 16, 24);
    const q = new ByteQueue();
    q.push(h);
    const req = new NbdRequest();
    new NbdRequestParser().next(q, req);
    expect(req.offset).toBe(Infinity);
  });
});

describe('NbdOptionParser', () => {
  it('parses options in any split and skips oversized payloads without buffering them', () => {
    const big = new Uint8Array(70_000);
    const stream = concat([encodeOption(NbdOption.STRUCTURED_REPLY), encodeOption(NbdOption.LIST, big), encodeOption(NbdOption.ABORT)]);
    fc.assert(fc.property(fc.array(fc.nat(), { maxLength: 10 }), (cuts) => {
      const q = new ByteQueue();
      const p = new NbdOptionParser();
      const events: string[] = [];
      for (const c of splitAt(stream, cuts)) {
        q.push(c);
        for (let ev = p.next(q); ev; ev = p.next(q)) events.push(`${ev.kind}:${ev.option}`);
        expect(q.length).toBeLessThan(70_000 + 16 + 16);
      }
      expect(events).toEqual(['option:8', 'too-big:3', 'option:2']);
    }), { seed: 7, numRuns: 100 });
  });

  it('throws on a bad option magic', () => {
    const q = new ByteQueue();
    q.push(new Uint8Array(16).fill(0x41));
    expect(() => new NbdOptionParser().next(q)).toThrow('Bad magic received');
  });
});

describe('option payloads', () => {
  it('round-trips info and meta-context requests', () => {
    expect(decodeInfoRequest(encodeInfoRequest({ name: 'disk', requests: [1, 3] }))).toEqual({ name: 'disk', requests: [1, 3] });
    expect(decodeMetaContextRequest(encodeMetaContextRequest({ name: '', queries: ['base:allocation'] })))
      .toEqual({ name: '', queries: ['base:allocation'] });
  });

  it('never trusts length fields inside payloads', () => {
    const lying = new Uint8Array([0xff, 0xff, 0xff, 0xff, 0x61]);
    expect(() => decodeInfoRequest(lying)).toThrow(NbdInvalidOption);
    const hugeCount = new Uint8Array([0, 0, 0, 0, 0x7f, 0xff, 0xff, 0xff]);
    expect(() => decodeMetaContextRequest(hugeCount)).toThrow(NbdInvalidOption);
    expect(() => decodeInfoRequest(new Uint8Array([0, 0, 0, 0, 0, 5, 0, 1]))).toThrow(NbdInvalidOption);
  });

  it('option reply parser: partial input, then a bad magic', () => {
    const msg = encodeOptionReply(NbdOption.LIST, NbdOptionReply.ACK);
    const q = new ByteQueue();
    const p = new NbdOptionReplyParser();
    q.push(msg.subarray(0, 7));
    expect(p.next(q)).toBeUndefined();
    q.push(msg.subarray(7));
    expect(p.next(q)).toMatchObject({ option: NbdOption.LIST, type: NbdOptionReply.ACK });
    q.push(new Uint8Array(20));
    expect(() => p.next(q)).toThrow(NbdProtocolError);
  });
});

describe('NbdReplyParser', () => {
  function inflight(type: number, offset: number, length: number): NbdInflight {
    return {
      type, offset, length, iov: type === NbdCommand.READ ? [new Uint8Array(length)] : null,
      error: 0, errorMessage: '', statusContext: 0, statusLength: 0, statusFlags: 0,
    };
  }

  function structured(flags: number, type: number, handle: number, payload: Uint8Array): Uint8Array {
    const h = new Uint8Array(20);
    writeStructuredHeader(new DataView(h.buffer), 0, flags, type, 0, handle, payload.byteLength);
    return concat([h, payload]);
  }

  function u64(n: number): Uint8Array {
    const b = new Uint8Array(8);
    new DataView(b.buffer).setUint32(4, n);
    return b;
  }

  it('assembles data and hole chunks of one read, in any split', () => {
    const stream = concat([
      structured(0, NbdChunk.OFFSET_DATA, 1, concat([u64(1004), new Uint8Array([7, 7, 7, 7])])),
      structured(0, NbdChunk.OFFSET_HOLE, 1, concat([u64(1000), new Uint8Array([0, 0, 0, 4])])),
      structured(NBD_REPLY_FLAG_DONE, NbdChunk.OFFSET_DATA, 1, concat([u64(1008), new Uint8Array([9, 9])])),
    ]);
    fc.assert(fc.property(fc.array(fc.nat(), { maxLength: 12 }), (cuts) => {
      const req = inflight(NbdCommand.READ, 1000, 10);
      req.iov![0]!.fill(0xee);
      const p = new NbdReplyParser((_hi, lo) => (lo === 1 ? req : undefined));
      p.structured = true;
      const q = new ByteQueue();
      let done: NbdInflight | undefined;
      for (const c of splitAt(stream, cuts)) {
        q.push(c);
        done ??= p.next(q);
      }
      expect(done).toBe(req);
      expect([...req.iov![0]!]).toEqual([0, 0, 0, 0, 7, 7, 7, 7, 9, 9]);
    }), { seed: 99, numRuns: 200 });
  });

  it('rejects data outside the requested range, unknown handles and unnegotiated structured replies', () => {
    const req = inflight(NbdCommand.READ, 0, 4);
    const p = new NbdReplyParser((_hi, lo) => (lo === 1 ? req : undefined));
    p.structured = true;
    const q = new ByteQueue();
    q.push(structured(NBD_REPLY_FLAG_DONE, NbdChunk.OFFSET_DATA, 1, concat([u64(2), new Uint8Array(4)])));
    expect(() => p.next(q)).toThrow('outside the requested range');

    const q2 = new ByteQueue();
    const simple = new Uint8Array(16);
    writeSimpleReply(new DataView(simple.buffer), 0, 0, 77);
    q2.push(simple);
    expect(() => new NbdReplyParser(() => undefined).next(q2)).toThrow('unknown handle');

    const q3 = new ByteQueue();
    q3.push(structured(NBD_REPLY_FLAG_DONE, NbdChunk.NONE, 1, new Uint8Array(0)));
    expect(() => new NbdReplyParser(() => req).next(q3)).toThrow('without negotiation');
  });

  it('records error chunks and block status descriptors', () => {
    const req = inflight(NbdCommand.BLOCK_STATUS, 0, 100);
    const p = new NbdReplyParser(() => req);
    p.structured = true;
    const q = new ByteQueue();
    const status = new Uint8Array([0, 0, 0, 0, 0, 0, 0, 64, 0, 0, 0, 3]);
    q.push(structured(NBD_REPLY_FLAG_DONE, NbdChunk.BLOCK_STATUS, 1, status));
    expect(p.next(q)).toBe(req);
    expect([req.statusLength, req.statusFlags]).toEqual([64, 3]);

    const r2 = inflight(NbdCommand.WRITE, 0, 1);
    const p2 = new NbdReplyParser(() => r2);
    p2.structured = true;
    const err = concat([new Uint8Array([0, 0, 0, 1, 0, 2]), new TextEncoder().encode('no')]);
    q.push(structured(NBD_REPLY_FLAG_DONE, NbdChunk.ERROR, 1, err));
    expect(p2.next(q)).toBe(r2);
    expect([r2.error, r2.errorMessage]).toEqual([1, 'no']);
  });

  it('streams a simple read reply into the request buffer', () => {
    const req = inflight(NbdCommand.READ, 0, 3);
    const p = new NbdReplyParser(() => req);
    const h = new Uint8Array(16);
    writeSimpleReply(new DataView(h.buffer), 0, 0, 1);
    const q = new ByteQueue();
    q.push(concat([h, new Uint8Array([1, 2])]));
    expect(p.next(q)).toBeUndefined();
    q.push(new Uint8Array([3]));
    expect(p.next(q)).toBe(req);
    expect([...req.iov![0]!]).toEqual([1, 2, 3]);
  });
});
