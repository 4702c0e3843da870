// -A / qemu:allocation-depth and base:allocation over backing chains, side by
// side with qemu-nbd 7.2: nbdinfo's maps and context lists, and the raw
// BLOCK_STATUS replies when both contexts are selected at once.
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NBD_CMD_FLAG_REQ_ONE, NbdCommand, NbdInfo, NbdOption, NbdOptionReply, encodeInfoRequest, encodeMetaContextRequest } from '@tsemu/block-nbd';
import { RawSession } from './raw-client.js';
import { InProcessServer, cleanupDir, run, startQemuNbdUnix, tempDir } from './helpers.js';

let dir: string;
const servers: { stop(): Promise<unknown> }[] = [];

async function qemuNbd(args: string[], sock: string): Promise<{ stop(): Promise<void> }> {
  const s = await startQemuNbdUnix(args, sock, dir);
  servers.push(s);
  return s;
}

/** The same export from both servers: [qemu-nbd socket, tsemu-nbd socket]. */
async function both(options: string[], name: string): Promise<[string, string]> {
  const args = ['-t', ...options]; // persistent: several clients in turn
  const q = join(dir, `${name}-q.sock`);
  const t = join(dir, `${name}-t.sock`);
  await qemuNbd(args, q);
  servers.push(await InProcessServer.start([...args.map((a) => (a.endsWith('.qcow2') || a.endsWith('.raw') ? join(dir, a) : a)), '-k', t]));
  return [q, t];
}

const uri = (sock: string): string => `nbd+unix:///?socket=${sock}`;

async function nbdinfo(args: string[]): Promise<{ code: number; stdout: string }> {
  const r = await run('nbdinfo', args);
  return { code: r.code, stdout: r.stdout };
}

beforeAll(async () => {
  dir = tempDir('tsemu-nbd-depth-');
  const sh = async (cmd: string, args: string[]): Promise<void> => {
    const r = await run(cmd, args, { cwd: dir });
    expect(r.code, r.stderr).toBe(0);
  };
  // base (4 MiB): data at 0, a zero cluster at 2 MiB. top (8 MiB, so 4-8 MiB
  // lies past base's end): data at 1 MiB, a zero cluster at 3 MiB, and a
  // write over 32k-96k that copies base's first cluster up.
  await sh('qemu-img', ['create', '-q', '-f', 'qcow2', 'base.qcow2', '4M']);
  await sh('qemu-io', ['-f', 'qcow2', '-c', 'write -P 1 0 64k', '-c', 'write -z 2M 64k', 'base.qcow2']);
  await sh('qemu-img', ['create', '-q', '-f', 'qcow2', '-b', 'base.qcow2', '-F', 'qcow2', 'top.qcow2', '8M']);
  await sh('qemu-io', ['-f', 'qcow2', '-c', 'write -P 2 1M 64k', '-c', 'write -z 3M 64k', '-c', 'write -P 3 32k 64k', 'top.qcow2']);
  await sh('qemu-img', ['create', '-q', '-f', 'raw', 'disk.raw', '1M']);
  await sh('qemu-io', ['-f', 'raw', '-c', 'write -P 1 0 4k', '-c', 'write -P 2 512k 4k', 'disk.raw']);
});

afterAll(async () => {
  for (const s of servers) await s.stop();
  cleanupDir(dir);
});

describe('qemu-nbd -A (qemu:allocation-depth)', () => {
  it('a qcow2 chain: allocation depth, base:allocation and the context list equal qemu-nbd\'s', async () => {
    const [q, t] = await both(['-A', '-r', '-f', 'qcow2', 'top.qcow2'], 'chain');
    for (const args of [['--map=qemu:allocation-depth'], ['--map'], ['--map', '--totals'], ['--list', '--json']]) {
      const a = await nbdinfo([...args, uri(q)]);
      const b = await nbdinfo([...args, uri(t)]);
      expect(a.code).toBe(0);
      expect(b.stdout.replaceAll(t, q), args.join(' ')).toBe(a.stdout);
    }
    // The depths the layout implies: top, nothing, backing, past base's end (backing).
    const map = (await nbdinfo(['--map=qemu:allocation-depth', uri(t)])).stdout;
    expect(map).toMatch(/^\s+0\s+131072\s+1\s+local$/m);
    expect(map).toMatch(/^\s+2097152\s+65536\s+2\s+backing depth 2$/m);
    expect(map).toMatch(/^\s+4194304\s+4194304\s+2\s+backing depth 2$/m);
  });

  it('a raw file is allocated (depth 1) everywhere, holes included', async () => {
    const [q, t] = await both(['-A', '-r', '-f', 'raw', 'disk.raw'], 'raw');
    const a = await nbdinfo(['--map=qemu:allocation-depth', uri(q)]);
    const b = await nbdinfo(['--map=qemu:allocation-depth', uri(t)]);
    expect(b.stdout).toBe(a.stdout);
    expect(b.stdout.trim()).toMatch(/^0\s+1048576\s+1\s+local$/);
  });

  it('without -A the context is not offered', async () => {
    const [q, t] = await both(['-r', '-f', 'qcow2', 'top.qcow2'], 'plain');
    const a = await nbdinfo(['--map=qemu:allocation-depth', uri(q)]);
    const b = await nbdinfo(['--map=qemu:allocation-depth', uri(t)]);
    expect(a.code).not.toBe(0);
    expect(b.code).toBe(a.code);
    const la = await nbdinfo(['--list', '--json', uri(q)]);
    const lb = await nbdinfo(['--list', '--json', uri(t)]);
    expect(lb.stdout.replaceAll(t, q)).toBe(la.stdout);
  });

  it('both contexts selected: the same option replies and BLOCK_STATUS chunks, byte for byte', async () => {
    const [q, t] = await both(['-A', '-r', '-f', 'qcow2', 'top.qcow2'], 'raw-session');
    const session = async (sock: string): Promise<unknown> => {
      const s = await RawSession.open(sock);
      try {
        await s.start();
        await s.option(NbdOption.STRUCTURED_REPLY);
        const out: unknown[] = [];
        // LIST with "qemu:" and with nothing; SET in the opposite order of qemu-nbd's replies.
        for (const queries of [['qemu:'], [], ['base:'], ['qemu:allocation-depth', 'base:allocation']]) {
          const option = queries.length === 2 ? NbdOption.SET_META_CONTEXT : NbdOption.LIST_META_CONTEXT;
          const replies = await s.option(option, encodeMetaContextRequest({ name: '', queries }));
          out.push(replies.map((r) => [r.type, Buffer.from(r.data).toString('hex')]));
        }
        const go = await s.option(NbdOption.GO, encodeInfoRequest({ name: '', requests: [NbdInfo.BLOCK_SIZE] }));
        expect(go.at(-1)?.type).toBe(NbdOptionReply.ACK);
        let handle = 1;
        for (const [offset, length, flags] of [[0, 8 << 20, 0], [0, 8 << 20, NBD_CMD_FLAG_REQ_ONE], [1 << 20, 3 << 20, 0], [4 << 20, 4096, 0]] as const) {
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
});
