// -B / qemu:dirty-bitmap:NAME over qcow2 persistent bitmaps, side by side
// with qemu-nbd 7.2: nbdinfo's maps and context lists, the raw option
// replies and BLOCK_STATUS chunks, start-up refusals, and a writable export
// whose writes show up in the bitmap at once and in the file after exit.
import { copyFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NBD_CMD_FLAG_REQ_ONE, NbdCommand, NbdInfo, NbdOption, NbdOptionReply, encodeInfoRequest, encodeMetaContextRequest } from '@tsemu/block-nbd';
import { RawSession } from './raw-client.js';
import { InProcessServer, cleanupDir, run, runTsemuNbd, startQemuNbdUnix, tempDir } from './helpers.js';

let dir: string;
const servers: { stop(): Promise<unknown> }[] = [];

async function qemuNbd(args: string[], sock: string): Promise<{ stop(): Promise<void> }> {
  const s = await startQemuNbdUnix(args, sock, dir);
  servers.push(s);
  return s;
}

const uri = (sock: string): string => `nbd+unix:///?socket=${sock}`;

async function nbdinfo(args: string[]): Promise<{ code: number; stdout: string }> {
  const r = await run('nbdinfo', args);
  return { code: r.code, stdout: r.stdout };
}

/** The export of `qFile` from qemu-nbd and of `tFile` from tsemu-nbd: [qemu socket, tsemu socket, tsemu server]. */
async function both(options: string[], qFile: string, tFile: string, name: string): Promise<[string, string, InProcessServer]> {
  const q = join(dir, `${name}-q.sock`);
  const t = join(dir, `${name}-t.sock`);
  await qemuNbd(['-t', ...options, qFile], q);
  const ts = await InProcessServer.start(['-t', ...options, join(dir, tFile), '-k', t]);
  servers.push(ts);
  return [q, t, ts];
}

beforeAll(async () => {
  dir = tempDir('tsemu-nbd-bitmap-');
  const sh = async (cmd: string, args: string[]): Promise<void> => {
    const r = await run(cmd, args, { cwd: dir });
    expect(r.code, r.stderr).toBe(0);
  };
  await sh('qemu-img', ['create', '-q', '-f', 'qcow2', 'img.qcow2', '64M']);
  await sh('qemu-img', ['bitmap', '--add', 'img.qcow2', 'b0']);
  // Whole clusters only: a partly written cluster's base:allocation differs for reasons of its own (file holes).
  await sh('qemu-io', ['-c', 'write 5M 1M', '-c', 'write 7M 64k', '-c', 'write 40M 64k', 'img.qcow2']);
  await sh('qemu-img', ['bitmap', '--add', '-g', '512', 'img.qcow2', 'fine']);
  await sh('qemu-io', ['-c', 'write 7169k 1536', '-c', 'write 63M 1M', 'img.qcow2']);
  // An in-use bitmap: left by a writer that was killed.
  await sh('cp', ['img.qcow2', 'inuse.qcow2']);
  expect((await run('qemu-io', ['-c', 'sigraise 9', 'inuse.qcow2'], { cwd: dir })).code).not.toBe(0);
});

afterAll(async () => {
  for (const s of servers) await s.stop();
  cleanupDir(dir);
});

describe('qemu-nbd -B (qemu:dirty-bitmap:NAME)', () => {
  it('maps and the context list equal qemu-nbd\'s', async () => {
    const [q, t] = await both(['-r', '-B', 'b0', '-B', 'fine', '-f', 'qcow2'], 'img.qcow2', 'img.qcow2', 'ro');
    for (const args of [['--map=qemu:dirty-bitmap:b0'], ['--map=qemu:dirty-bitmap:fine'], ['--map'], ['--list', '--json']]) {
      const a = await nbdinfo([...args, uri(q)]);
      const b = await nbdinfo([...args, uri(t)]);
      expect(a.code).toBe(0);
      expect(b.stdout.replaceAll(t, q), args.join(' ')).toBe(a.stdout);
    }
    expect((await nbdinfo(['--map=qemu:dirty-bitmap:fine', uri(t)])).stdout).toMatch(/^\s+7341056\s+1536\s+1\s+dirty$/m);
  });

  it('option replies and BLOCK_STATUS chunks, byte for byte', async () => {
    const [q, t] = await both(['-r', '-A', '-B', 'b0', '-B', 'fine', '-f', 'qcow2'], 'img.qcow2', 'img.qcow2', 'raw');
    const session = async (sock: string): Promise<unknown> => {
      const s = await RawSession.open(sock);
      try {
        await s.start();
        await s.option(NbdOption.STRUCTURED_REPLY);
        const out: unknown[] = [];
        const asks: Array<[number, string[]]> = [
          [NbdOption.LIST_META_CONTEXT, ['qemu:']], [NbdOption.LIST_META_CONTEXT, []],
          [NbdOption.LIST_META_CONTEXT, ['qemu:dirty-bitmap:']], [NbdOption.LIST_META_CONTEXT, ['qemu:dirty-bitmap:nob']],
          [NbdOption.SET_META_CONTEXT, ['qemu:dirty-bitmap:fine', 'base:allocation', 'qemu:dirty-bitmap:b0', 'qemu:allocation-depth']],
        ];
        for (const [option, queries] of asks) {
          const replies = await s.option(option, encodeMetaContextRequest({ name: '', queries }));
          out.push(replies.map((r) => [r.type, Buffer.from(r.data).toString('hex')]));
        }
        const go = await s.option(NbdOption.GO, encodeInfoRequest({ name: '', requests: [NbdInfo.BLOCK_SIZE] }));
        expect(go.at(-1)?.type).toBe(NbdOptionReply.ACK);
        let handle = 1;
        for (const [offset, length, flags] of [[0, 64 << 20, 0], [0, 64 << 20, NBD_CMD_FLAG_REQ_ONE], [7 << 20, 4096, 0], [(7 << 20) + 1536, 1000, 0]] as const) {
          s.request(NbdCommand.BLOCK_STATUS, flags, handle++, offset, length);
          const reply = await s.structuredReply();
          out.push(reply?.chunks, reply?.bodies.map((b) => Buffer.from(b).toString('hex')));
        }
        return out;
      } finally {
        s.destroy();
      }
    };
    expect(await session(t)).toEqual(await session(q));
  });

  it('a missing or inconsistent bitmap: qemu-nbd\'s message and exit status', async () => {
    for (const args of [['-r', '-B', 'nob', 'img.qcow2'], ['-r', '-B', 'b0', '-B', 'nob2', 'img.qcow2'], ['-r', '-B', 'b0', 'inuse.qcow2'], ['-r', '-B', 'b0', '-f', 'raw', 'img.qcow2']]) {
      const a = await run('qemu-nbd', ['-k', join(dir, 'never.sock'), ...args], { cwd: dir });
      const b = await runTsemuNbd(['-k', join(dir, 'never.sock'), ...args], { cwd: dir });
      expect({ code: b.code, stderr: b.stderr }, args.join(' ')).toEqual({ code: a.code, stderr: a.stderr });
    }
  });

  it('a writable export: writes are dirty at once, and stored in the file at exit', async () => {
    copyFileSync(join(dir, 'img.qcow2'), join(dir, 'rw-q.qcow2'));
    copyFileSync(join(dir, 'img.qcow2'), join(dir, 'rw-t.qcow2'));
    const [q, t, ts] = await both(['-B', 'b0', '-f', 'qcow2'], 'rw-q.qcow2', 'rw-t.qcow2', 'rw');
    for (const sock of [q, t]) {
      const w = await run('qemu-io', ['-f', 'raw', '-c', 'write 20M 4k', '-c', 'write -z 30M 128k', '-c', 'discard 50M 64k', uri(sock)]);
      expect(w.code, w.stderr).toBe(0);
    }
    const a = await nbdinfo(['--map=qemu:dirty-bitmap:b0', uri(q)]);
    const b = await nbdinfo(['--map=qemu:dirty-bitmap:b0', uri(t)]);
    expect(b.stdout).toBe(a.stdout);
    expect(b.stdout).toMatch(/^\s+20971520\s+65536\s+1\s+dirty$/m);
    expect(await ts.stop()).toBe(0);
    const after = await run('qemu-img', ['check', 'rw-t.qcow2'], { cwd: dir });
    expect(after.stdout).toContain('No errors were found on the image.');
    const [q2, t2] = await both(['-r', '-B', 'b0', '-f', 'qcow2'], 'rw-t.qcow2', 'rw-t.qcow2', 'after');
    expect((await nbdinfo(['--map=qemu:dirty-bitmap:b0', uri(q2)])).stdout).toBe(b.stdout);
    expect((await nbdinfo(['--map=qemu:dirty-bitmap:b0', uri(t2)])).stdout).toBe(b.stdout);
  });
});
