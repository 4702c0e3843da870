// tsemu-img snapshot on a sheepdog VDI (sheepdog://host:port/vdi) against the
// test peer: -c takes snapshots, -l lists them in QEMU's table, -d deletes,
// -a refuses disk-only snapshots as QEMU's sheepdog driver did, and goes to
// snapshots with VM state (GET_VDI_INFO by id or tag, spec section 6); COW
// after a snapshot leaves the snapshot's data readable by tag and by id.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openImage } from '@tsemu/block-core';
import { registerAllDrivers } from '@tsemu/block-drivers';
import { SheepdogTestServer } from '@tsemu/sheepdog-testd';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tsemuImg } from './qcow2-harness.js';

let dir: string;
let peer: SheepdogTestServer; // sheep 1.0.1: DEL_VDI
let old: SheepdogTestServer; // sheep 0.5.6, the daemon QEMU 1.4 talked to

beforeAll(async () => {
  registerAllDrivers();
  dir = mkdtempSync(join(tmpdir(), 'tsemu-img-sheep-'));
  peer = await SheepdogTestServer.start({ dir, flavour: '1.0.1' });
  old = await SheepdogTestServer.start({ dir: join(dir, 'old'), flavour: '0.5.6' });
});

afterAll(async () => {
  await peer.close();
  await old.close();
  rmSync(dir, { recursive: true, force: true });
});

const MiB = 1 << 20;
const GET_VDI_INFO = 0x14, LOCK_VDI = 0x12, READ_OBJ = 0x02, NEW_VDI = 0x11, CREATE = 0x01;
const INODE_SIZE = 4_198_968;

/** The driver's own methods that block-core has no hook for (vmstate). */
interface SheepState {
  vid: number;
  isSnapshot: boolean;
  saveVmState(data: Uint8Array, pos?: number): Promise<number>;
  loadVmState(into: Uint8Array, pos?: number): Promise<number>;
  snapshotCreate(tag: string, vmStateSize?: number, vmClockNsec?: number): Promise<void>;
  gotoSnapshot(idOrTag: string): Promise<void>;
}
async function openState(uri: string) {
  const bb = await openImage({ filename: uri, format: 'raw', cache: 'writeback' });
  const node = bb.root.file ?? bb.root;
  return { bb, state: node.state as unknown as SheepState };
}

/** qemu-img 7.2's snapshot has no -f: a raw image opened for writing is probed, and says so first. */
function afterProbeWarning(stderr: string, uri: string): string {
  const warning = `WARNING: Image format was not specified for '${uri}' and probing guessed raw.\n`
    + '         Automatically detecting the format is dangerous for raw images, write operations on block 0 will be restricted.\n'
    + "         Specify the 'raw' format explicitly to remove the restrictions.\n";
  expect(stderr.startsWith(warning)).toBe(true);
  return stderr.slice(warning.length);
}

function fill(length: number, seed: number): Buffer {
  const b = Buffer.alloc(length);
  for (let i = 0; i < length; i++) b[i] = (i * 31 + seed + (i >> 12)) & 0xff;
  return b;
}

describe('snapshot on sheepdog', () => {
  it('-c / -l / -d / -a through the generic snapshot hooks', async () => {
    const uri = peer.uri('disk');
    const made = await tsemuImg(['create', '-f', 'raw', uri, '16M'], dir);
    expect(made.code, made.stderr).toBe(0);
    expect((await tsemuImg(['snapshot', '-l', uri], dir))).toEqual({ stdout: '', stderr: '', code: 0 });
    for (const tag of ['first', 'second']) {
      const r = await tsemuImg(['snapshot', '-c', tag, uri], dir);
      expect(r.code, r.stderr).toBe(0);
    }
    const list = await tsemuImg(['snapshot', '-l', uri], dir);
    expect(list.code).toBe(0);
    const lines = list.stdout.split('\n');
    expect(lines[0]).toBe('Snapshot list:');
    expect(lines[1]).toBe('ID        TAG               VM SIZE                DATE     VM CLOCK     ICOUNT');
    expect(lines[2]).toMatch(/^1 {9}first {17}0 B \d{4}-\d\d-\d\d \d\d:\d\d:\d\d 00:00:00\.000 {11}$/);
    expect(lines[3]).toMatch(/^2 {9}second {16}0 B /);
    const info = await tsemuImg(['info', '--output=json', uri], dir);
    expect(JSON.parse(info.stdout).snapshots.map((s: { id: string; name: string }) => [s.id, s.name])).toEqual([['1', 'first'], ['2', 'second']]);

    // Disk-only snapshots cannot be loaded (QEMU's sheepdog: no vm state, ENOENT).
    const apply = await tsemuImg(['snapshot', '-a', 'first', uri], dir);
    expect(apply.code).toBe(1);
    expect(apply.stderr).toContain("qemu-img: Could not apply snapshot 'first': Failed to load snapshot: No such file or directory\n");

    const del = await tsemuImg(['snapshot', '-d', 'first', uri], dir);
    expect(del.code, del.stderr).toBe(0);
    const after = await tsemuImg(['snapshot', '-l', uri], dir);
    expect(after.stdout.split('\n').slice(2, -1).map((l) => l.split(/ +/)[1])).toEqual(['second']);
    const missing = await tsemuImg(['snapshot', '-d', 'nope', uri], dir);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain("qemu-img: Could not delete snapshot 'nope': snapshot not found\n");
  });
});

describe('snapshot on sheepdog 0.5.6 (QEMU 1.4 semantics)', () => {
  it('COW after -c: overwriting the VDI leaves the snapshot readable by tag and by id', async () => {
    const a = fill(10 * MiB, 1);
    const b = fill(10 * MiB, 2);
    writeFileSync(join(dir, 'a.raw'), a);
    writeFileSync(join(dir, 'b.raw'), b);
    const uri = old.uri('cow');
    const host = `127.0.0.1:${old.port}`;
    expect((await tsemuImg(['convert', '-f', 'raw', '-O', 'raw', 'a.raw', uri], dir)).code).toBe(0);
    expect((await tsemuImg(['snapshot', '-c', 'base', uri], dir)).code).toBe(0);
    old.log.clear();
    const over = await tsemuImg(['convert', '-n', '-f', 'raw', '-O', 'raw', 'b.raw', uri], dir);
    expect(over, over.stderr).toMatchObject({ code: 0, stderr: '' });
    // Every object the snapshot owned was copied on write: CREATE with COW|CACHE|WRITE and cow_oid set.
    const creates = old.log.list().filter((e) => e.opcode === CREATE);
    expect(creates.length).toBe(3);
    for (const c of creates) expect([c.flags, c.cowOid === '0'.repeat(16)]).toEqual([0x07, false]);

    const same = { code: 0, stdout: 'Images are identical.\n', stderr: '' };
    expect(await tsemuImg(['compare', '-f', 'raw', '-F', 'raw', 'b.raw', uri], dir)).toEqual(same);
    for (const snap of [`sheepdog:${host}:cow:base`, `sheepdog:${host}:cow:1`, `${uri}#base`, `${uri}#1`]) {
      expect(await tsemuImg(['compare', '-f', 'raw', '-F', 'raw', 'a.raw', snap], dir)).toEqual(same);
    }
    // And out to a file the real qemu-img can check.
    expect((await tsemuImg(['convert', '-f', 'raw', '-O', 'raw', `sheepdog:${host}:cow:base`, 'snap.raw'], dir)).code).toBe(0);
    expect(spawnSync('qemu-img', ['compare', '-f', 'raw', '-F', 'raw', 'a.raw', 'snap.raw'], { cwd: dir, encoding: 'utf8' }).stdout).toBe('Images are identical.\n');
    expect(Buffer.compare(readFileSync(join(dir, 'snap.raw')), a)).toBe(0);
  });

  it('-a on a snapshot with VM state: GET_VDI_INFO by tag or id, the whole inode read, success', async () => {
    const uri = old.uri('vm');
    expect((await tsemuImg(['create', '-f', 'raw', uri, '8M'], dir)).code).toBe(0);
    // savevm through the driver: VM state into VMSTATE objects, then the snapshot with its size.
    const { bb, state } = await openState(uri);
    const disk = fill(6 * MiB, 3);
    await bb.write(0, disk);
    const vmstate = fill(5 * MiB, 4); // two VMSTATE objects
    old.log.clear();
    await state.saveVmState(vmstate.subarray(0, 3 * MiB));
    await state.saveVmState(vmstate.subarray(3 * MiB), 3 * MiB);
    // VMSTATE oids of the current vid: CREATE where a chunk starts an object, WRITE otherwise; one connection per call.
    const vmHi = ((0x40000000 | state.vid) >>> 0).toString(16).padStart(8, '0');
    const vmLog = old.log.list().filter((e) => e.oid.startsWith(vmHi));
    expect(vmLog.map((e) => [e.opcode, e.flags, e.oid.slice(8), e.offset, e.dataLength])).toEqual([
      [CREATE, 0x05, '00000000', 0, 3 * MiB],
      [0x03, 0x05, '00000000', 3 * MiB, MiB],
      [CREATE, 0x05, '00000001', 0, MiB],
    ]);
    expect(new Set(vmLog.map((e) => e.conn)).size).toBe(2);
    const snapVid = state.vid;
    await state.snapshotCreate('with-vm', vmstate.length, 1_500_000_000);
    await bb.write(0, fill(6 * MiB, 5)); // the VDI moves on (COW)
    await state.snapshotCreate('disk-only');
    await bb.close();

    const list = await tsemuImg(['snapshot', '-l', uri], dir);
    expect(list.stdout.split('\n')[2]).toMatch(/^1 {9}with-vm +5 MiB \d{4}-\d\d-\d\d \d\d:\d\d:\d\d 00:00:01\.500 {11}$/);

    for (const target of ['with-vm', '1']) {
      old.log.clear();
      const r = await tsemuImg(['snapshot', '-a', target, uri], dir);
      expect([r.code, r.stdout, afterProbeWarning(r.stderr, uri)]).toEqual([0, '', '']);
      const log = old.log.list();
      const info = log.filter((e) => e.opcode === GET_VDI_INFO);
      expect(info).toHaveLength(1); // not LOCK_VDI: a lookup only
      expect([info[0]!.protoVer, info[0]!.dataLength, info[0]!.snapId]).toEqual([1, 512, target === '1' ? 1 : 0]);
      expect(info[0]!.result).toBe(0);
      const reads = log.filter((e) => e.opcode === READ_OBJ && e.dataLength === INODE_SIZE);
      expect(reads.map((e) => e.oid)).toContain(((0x80000000 | snapVid) >>> 0).toString(16).padStart(8, '0') + '00000000');
      expect(log.filter((e) => e.opcode === LOCK_VDI)).toHaveLength(1); // the open's own
      expect(log.some((e) => e.opcode === NEW_VDI)).toBe(false); // no write, so no branch (QEMU 1.4)
    }

    // Through the driver: after goto, reads and the VM state are the snapshot's; a write branches.
    const again = await openState(uri);
    await again.state.gotoSnapshot('with-vm');
    expect([again.state.vid, again.state.isSnapshot]).toEqual([snapVid, true]);
    const got = Buffer.alloc(6 * MiB);
    await again.bb.read(0, got);
    expect(Buffer.compare(got, disk)).toBe(0);
    const vmBack = Buffer.alloc(vmstate.length);
    await again.state.loadVmState(vmBack);
    expect(Buffer.compare(vmBack, vmstate)).toBe(0);
    old.log.clear();
    await again.bb.write(0, Buffer.alloc(512, 0xee));
    expect(old.log.list().find((e) => e.opcode === NEW_VDI)).toMatchObject({ baseVdiId: snapVid, snapId: 1 });
    expect(again.state.isSnapshot).toBe(false);
    await again.bb.close();
    // The snapshot itself is untouched by the branch's write.
    const snapBytes = Buffer.alloc(512);
    const snap = await openImage({ filename: `${uri}#with-vm`, format: 'raw', readOnly: true });
    await snap.read(0, snapBytes);
    await snap.close();
    expect(Buffer.compare(snapBytes, disk.subarray(0, 512))).toBe(0);
  });

  it('-a on a disk-only snapshot fails as QEMU prints it (ENOENT, vm_state_size 0), and changes nothing', async () => {
    const uri = old.uri('vm');
    old.log.clear();
    const r = await tsemuImg(['snapshot', '-a', 'disk-only', uri], dir);
    expect([r.code, r.stdout, afterProbeWarning(r.stderr, uri)])
      .toEqual([1, '', "qemu-img: Could not apply snapshot 'disk-only': Failed to load snapshot: No such file or directory\n"]);
    expect(old.log.list().filter((e) => e.opcode === GET_VDI_INFO).map((e) => e.result)).toEqual([0]);
    const missing = await tsemuImg(['snapshot', '-a', 'nope', uri], dir);
    expect(missing.code).toBe(1);
    expect(afterProbeWarning(missing.stderr, uri)).toBe("qemu-img: Could not apply snapshot 'nope': Failed to load snapshot: Input/output error\n"); // NO_TAG -> EIO
    // 0.5.6 has no public DEL_VDI (QEMU 1.4's delete was a no-op): a clear message, the snapshot stays.
    const del = await tsemuImg(['snapshot', '-d', 'disk-only', uri], dir);
    expect([del.code, afterProbeWarning(del.stderr, uri)])
      .toEqual([1, "qemu-img: Could not delete snapshot 'disk-only': sheepdog: this daemon cannot delete snapshots (no DEL_VDI)\n"]);
    expect((await tsemuImg(['snapshot', '-l', uri], dir)).stdout).toContain('disk-only');
  });
});
