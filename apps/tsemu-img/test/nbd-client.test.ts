// tsemu-img and tsemu-io as NBD clients of the real qemu-nbd 7.2 (drivers
// come from @tsemu/block-drivers): same info and map output as qemu-img's,
// data written by tsemu-io read back by qemu-io through the same export.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitForListener } from '../../../packages/block-nbd/test/helpers.js';

const ROOT = resolve(fileURLToPath(new URL('.', import.meta.url)), '../../..');
const bin = (name: string): string => join(ROOT, 'node_modules/.bin', name);
const dir = mkdtempSync(join(tmpdir(), 'tsemu-nbd-client-'));
const socket = join(dir, 'nbd.sock');
const uri = `nbd+unix:///?socket=${socket}`;
let server: ChildProcess;

function run(cmd: string, args: string[]): { stdout: string; stderr: string; code: number | null } {
  const r = spawnSync(cmd, args, { cwd: dir, encoding: 'utf8', timeout: 60_000 });
  return { stdout: r.stdout, stderr: r.stderr, code: r.status };
}

beforeAll(async () => {
  expect(run('qemu-img', ['create', '-f', 'qcow2', 'disk.qcow2', '16M']).code).toBe(0);
  expect(run('qemu-io', ['-f', 'qcow2', '-c', 'write -P 0xab 0 64k', '-c', 'write -P 0xcd 1M 64k', 'disk.qcow2']).code).toBe(0);
  server = spawn('qemu-nbd', ['-f', 'qcow2', '-t', '-k', socket, join(dir, 'disk.qcow2')], { stdio: 'ignore' });
  await waitForListener(socket, server);
  if (server.exitCode !== null) throw new Error('qemu-nbd did not start');
});

afterAll(() => {
  server?.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

describe('NBD client through the tools, against qemu-nbd', () => {
  it.each([
    [['info', '-f', 'raw', uri]],
    [['info', '--output=json', '-f', 'raw', uri]],
    [['map', '--output=json', '-f', 'raw', uri]],
  ])('tsemu-img %j prints what qemu-img prints', (args) => {
    const ours = run(bin('tsemu-img'), args);
    expect(ours).toEqual(run('qemu-img', args));
    expect(ours.code).toBe(0);
  });

  it('tsemu-io reads and writes the export; qemu-io sees the writes', () => {
    const ours = run(bin('tsemu-io'), ['-f', 'raw', '-c', 'read -P 0xab 0 64k', '-c', 'write -P 0x5a 2M 128k', '-c', 'flush', uri]);
    expect(ours.stderr).toBe('');
    expect(ours.code).toBe(0);
    const theirs = run('qemu-io', ['-f', 'raw', '-c', 'read -P 0x5a 2M 128k', '-c', 'read -P 0xcd 1M 64k', uri]);
    expect(theirs.stdout).not.toContain('verification failed');
    expect(theirs.code).toBe(0);
  });

  it('a server that is not there is one line of QEMU\'s error, exit 1', () => {
    const r = run(bin('tsemu-img'), ['info', `nbd+unix:///?socket=${join(dir, 'nope.sock')}`]);
    expect(r.code).toBe(1);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/^qemu-img: Could not open 'nbd\+unix:/);
  });
});
