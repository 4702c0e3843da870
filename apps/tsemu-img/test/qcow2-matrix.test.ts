// qcow2 interop in both directions across cluster sizes (512 B, 4 KiB,
// 64 KiB, 2 MiB), compat 0.10 / 1.1, with and without a backing file, with
// snapshots and compressed clusters:
// - tsemu creates and writes (through block-core, tsemu-img create/snapshot):
//   `qemu-img check` is clean, `qemu-img compare` finds the expected content,
//   and tsemu-img's info / map / check JSON equal qemu-img's on the very file;
// - qemu-img / qemu-io create and write the same: tsemu-img reads it back
//   byte for byte and reports it as qemu-img does.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openImage } from '@tsemu/block-core';
import { registerAllDrivers } from '@tsemu/block-drivers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { must, spawn, tsemuImg } from './qcow2-harness.js';

const SIZE = 8 * 1024 * 1024;
const MiB = 1024 * 1024;
let dir: string;

/** The guest writes both sides perform, in order; `snapshot` splits before/after. */
interface Op { kind: 'write' | 'zero' | 'compressed'; offset: number; length: number; pattern: number }

function opsFor(cs: number): { before: Op[]; after: Op[] } {
  return {
    before: [
      { kind: 'write', offset: 0, length: cs + cs / 2 + 1000, pattern: 0x11 },
      { kind: 'write', offset: 3 * MiB + 512, length: 10000, pattern: 0x22 },
      { kind: 'zero', offset: 2 * MiB, length: 2 * cs, pattern: 0 },
      { kind: 'compressed', offset: 6 * MiB, length: cs, pattern: 0x44 },
    ],
    after: [
      { kind: 'write', offset: 0, length: 4096, pattern: 0x33 },
      { kind: 'write', offset: 6 * MiB + 512, length: 512, pattern: 0x55 },
    ],
  };
}

function applyToReference(ref: Uint8Array, ops: Op[]): void {
  for (const op of ops) ref.fill(op.kind === 'zero' ? 0 : op.pattern, op.offset, op.offset + op.length);
}

function qemuIoArgs(ops: Op[]): string[] {
  return ops.flatMap((op) => {
    const hex = `0x${op.pattern.toString(16)}`;
    if (op.kind === 'zero') return ['-c', `write -z ${op.offset} ${op.length}`];
    if (op.kind === 'compressed') return ['-c', `write -c -P ${hex} ${op.offset} ${op.length}`];
    return ['-c', `write -P ${hex} ${op.offset} ${op.length}`];
  });
}

async function tsemuWrite(path: string, ops: Op[]): Promise<void> {
  const blk = await openImage({ filename: path, format: 'qcow2' });
  try {
    for (const op of ops) {
      if (op.kind === 'zero') await blk.writeZeroes(op.offset, op.length);
      else if (op.kind === 'compressed') await blk.writeCompressed(op.offset, new Uint8Array(op.length).fill(op.pattern));
      else await blk.write(op.offset, new Uint8Array(op.length).fill(op.pattern));
    }
    await blk.flush();
  } finally {
    await blk.close();
  }
}

/** tsemu-img and qemu-img agree on this file. */
async function expectSameReport(args: string[]): Promise<void> {
  const qemu = spawn('qemu-img', args, dir);
  const tsemu = await tsemuImg(args, dir);
  expect(tsemu, args.join(' ')).toEqual(qemu);
}

beforeAll(() => {
  registerAllDrivers();
  dir = mkdtempSync(join(tmpdir(), 'tsemu-qcow2-matrix-'));
  // The backing file every "with backing" case uses: data over the first 5 MiB.
  must('qemu-img', ['create', '-f', 'qcow2', 'base.qcow2', String(SIZE)], dir);
  must('qemu-io', ['-f', 'qcow2', '-c', 'write -P 0x77 0 5M', 'base.qcow2'], dir);
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

const CASES: Array<[number, string, boolean]> = [];
for (const cs of [512, 4096, 65536, 2 * MiB]) {
  for (const compat of ['0.10', '1.1']) for (const backing of [false, true]) CASES.push([cs, compat, backing]);
}

describe.each(CASES)('cluster_size=%i compat=%s backing=%s', (cs, compat, backing) => {
  const tag = `${cs}-${compat}-${backing ? 'b' : 'n'}`;
  const createArgs = ['create', '-f', 'qcow2', '-o', `cluster_size=${cs},compat=${compat}`,
    ...(backing ? ['-b', 'base.qcow2', '-F', 'qcow2'] : [])];
  const { before, after } = opsFor(cs);
  const initial = (): Uint8Array => {
    const ref = new Uint8Array(SIZE);
    if (backing) ref.fill(0x77, 0, 5 * MiB);
    return ref;
  };

  it('tsemu writes an image qemu-img checks clean and reads back; reports match', async () => {
    const name = `t-${tag}.qcow2`;
    const made = await tsemuImg([...createArgs, name, String(SIZE)], dir);
    expect(made.code, made.stderr).toBe(0);
    expect(made.stdout).toBe(spawn('qemu-img', [...createArgs, `q-${tag}.qcow2`, String(SIZE)], dir).stdout.replace(`q-${tag}`, `t-${tag}`));
    const ref = initial();
    await tsemuWrite(join(dir, name), before);
    applyToReference(ref, before);
    writeFileSync(join(dir, `snap-${tag}.raw`), ref);
    expect((await tsemuImg(['snapshot', '-c', 'snap', name], dir)).code).toBe(0);
    await tsemuWrite(join(dir, name), after);
    applyToReference(ref, after);
    writeFileSync(join(dir, `ref-${tag}.raw`), ref);

    const check = spawn('qemu-img', ['check', name], dir);
    expect(check.code, check.stdout + check.stderr).toBe(0);
    expect(check.stdout).toMatch(/^No errors were found on the image\.\n/);
    expect(spawn('qemu-img', ['compare', '-f', 'qcow2', '-F', 'raw', name, `ref-${tag}.raw`], dir).stdout).toBe('Images are identical.\n');
    // The snapshot holds the content from before it, for qemu-img too.
    expect(spawn('qemu-img', ['snapshot', '-l', name], dir).stdout).toMatch(/\n1 {9}snap {13}/);
    must('qemu-img', ['convert', '-l', 'snap', '-O', 'raw', name, `snapout-${tag}.raw`], dir);
    expect(readFileSync(join(dir, `snapout-${tag}.raw`)).equals(readFileSync(join(dir, `snap-${tag}.raw`)))).toBe(true);
    await expectSameReport(['info', '--output=json', name]);
    await expectSameReport(['info', name]);
    await expectSameReport(['map', '--output=json', name]);
    await expectSameReport(['check', '--output=json', name]);
  });

  it('qemu writes an image tsemu-img reads back byte for byte; reports match', async () => {
    const name = `q-${tag}.qcow2`;
    must('qemu-io', ['-f', 'qcow2', ...qemuIoArgs(before), name], dir);
    must('qemu-img', ['snapshot', '-c', 'snap', name], dir);
    must('qemu-io', ['-f', 'qcow2', ...qemuIoArgs(after), name], dir);
    const ref = initial();
    applyToReference(ref, before);
    const snap = Buffer.from(ref);
    applyToReference(ref, after);
    const out = await tsemuImg(['convert', '-O', 'raw', name, `qout-${tag}.raw`], dir);
    expect(out.code, out.stderr).toBe(0);
    expect(readFileSync(join(dir, `qout-${tag}.raw`)).equals(Buffer.from(ref))).toBe(true);
    expect((await tsemuImg(['convert', '-l', 'snap', '-O', 'raw', name, `qsnap-${tag}.raw`], dir)).code).toBe(0);
    expect(readFileSync(join(dir, `qsnap-${tag}.raw`)).equals(snap)).toBe(true);
    await expectSameReport(['info', '--output=json', name]);
    await expectSameReport(['snapshot', '-l', name]);
    await expectSameReport(['map', '--output=json', name]);
    await expectSameReport(['check', name]);
    await expectSameReport(['compare', name, `t-${tag}.qcow2`]);
  });
});
