// tsemu-img snapshot on a sheepdog VDI (sheepdog://host:port/vdi) against the
// test peer: -c takes snapshots, -l lists them in QEMU's table, -d deletes,
// -a refuses disk-only snapshots as QEMU's sheepdog driver did.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SheepdogTestServer } from '@tsemu/sheepdog-testd';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tsemuImg } from './qcow2-harness.js';

let dir: string;
let peer: SheepdogTestServer;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'tsemu-img-sheep-'));
  peer = await SheepdogTestServer.start({ dir, flavour: '1.0.1' });
});

afterAll(async () => {
  await peer.close();
  rmSync(dir, { recursive: true, force: true });
});

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
