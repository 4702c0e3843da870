// tsemu-io as a TLS client of the real qemu-nbd 7.2, side by side with
// qemu-io: `--object tls-creds-x509,...` plus `tls-creds=ID` in --image-opts,
// reads and writes through the export (each tool checks what the other wrote),
// --object's messages, and the refusals.
import type { ChildProcess } from 'node:child_process';
import { copyFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeCa, startQemuNbd } from '../../../packages/block-nbd/test/tls-fixtures.js';
import { QEMU_IO, TSEMU_IO, TwinDirs, maskTimings, run } from './harness.js';

const dirs = new TwinDirs({});
const pki = join(dirs.root, 'pki');
const servers: ChildProcess[] = [];
let tlsPort = 0;
let plainPort = 0;

const clientObject = (dir = pki): string => `tls-creds-x509,id=tls0,dir=${dir},endpoint=client`;
const opts = (port: number, more = ',tls-creds=tls0'): string =>
  `driver=nbd,server.type=inet,server.host=127.0.0.1,server.port=${port},export=tlsdisk${more}`;

beforeAll(async () => {
  makeCa(pki, 'tsemu test CA', ['server', 'client']);
  makeCa(join(dirs.root, 'foreign'), 'another CA', ['client']);
  mkdirSync(join(dirs.root, 'mismatch'));
  copyFileSync(join(dirs.root, 'foreign', 'ca-cert.pem'), join(dirs.root, 'mismatch', 'ca-cert.pem'));
  for (const f of ['client-cert.pem', 'client-key.pem']) copyFileSync(join(pki, f), join(dirs.root, 'mismatch', f));
  const disk = join(dirs.root, 'export.qcow2');
  expect(run('qemu-img', ['create', '-f', 'qcow2', disk, '16M'], dirs.root).code).toBe(0);
  expect(run('qemu-img', ['create', '-f', 'raw', join(dirs.root, 'plain.raw'), '4M'], dirs.root).code).toBe(0);
  expect(run('qemu-io', ['-f', 'qcow2', '-c', 'write -P 0xab 0 64k', disk], dirs.root).code).toBe(0);
  tlsPort = await startQemuNbd(['--object', `tls-creds-x509,id=tls0,dir=${pki},endpoint=server`, '--tls-creds', 'tls0',
    '-f', 'qcow2', '-t', '-e', '2', '-x', 'tlsdisk', disk], servers);
  plainPort = await startQemuNbd(['-f', 'raw', '-t', '-x', 'tlsdisk', join(dirs.root, 'plain.raw')], servers);
});

afterAll(() => {
  for (const s of servers) s.kill('SIGKILL');
  dirs.cleanup();
});

describe('tsemu-io through TLS to qemu-nbd 7.2', () => {
  it('reads, writes and maps the export as qemu-io does; each sees the other\'s writes', () => {
    const tls = ['--object', clientObject(), '--image-opts'];
    const ours = run(TSEMU_IO, [...tls, '-c', 'read -P 0xab 0 64k', '-c', 'write -P 0x5a 1M 128k', '-c', 'read -P 0 2M 4k', '-c', 'map', opts(tlsPort)], dirs.ours);
    const theirs = run(QEMU_IO, [...tls, '-c', 'read -P 0x5a 1M 128k', '-c', 'write -P 0x5a 1M 128k', '-c', 'read -P 0 2M 4k', '-c', 'map', opts(tlsPort)], dirs.theirs);
    expect(ours.stderr).toBe('');
    expect(ours.code).toBe(0);
    expect(theirs.code).toBe(0);
    // Line for line the same output, apart from the first command (ours read 0xab at 0, theirs checked our write at 1M).
    const tail = (s: string): string[] => maskTimings(s).split('\n').slice(2);
    expect(tail(ours.stdout)).toEqual(tail(theirs.stdout));
    expect(ours.stdout).toMatch(/^read 65536\/65536 bytes at offset 0\n/);
    expect(theirs.stdout).not.toContain('Pattern verification failed');
    const back = run(TSEMU_IO, [...tls, '-r', '-c', 'read -P 0x5a 1M 128k', opts(tlsPort)], dirs.ours);
    expect(back.stdout).toMatch(/^read 131072\/131072 bytes at offset 1048576\n/);
  });
});

describe('--object and refusals, as qemu-io 7.2', () => {
  it.each([
    ['foo'], ['secret,id=s'], ['help'], ['secret,help'], ['tls-creds-x509,id=x'], ['tls-creds-x509,id=1x,dir=/tmp'],
    ['tls-creds-x509,id=x,dir=/nonexistent'], ['tls-creds-x509,id=x,dir=/tmp,endpoint=bogus'],
  ])('--object %s: same message and exit status', (def) => {
    const { ours, theirs } = dirs.both(['--object', def, '-c', 'read 0 1', 'missing.img']);
    expect(ours).toEqual(theirs);
  });

  it('our certificate not signed by our CA; tls-creds naming no object', () => {
    const a = dirs.both(['--object', clientObject(join(dirs.root, 'mismatch')), '-c', 'read 0 1', '--image-opts', opts(tlsPort)]);
    expect(a.ours).toEqual(a.theirs);
    expect(a.ours.stderr).toMatch(/^qemu-io: Our own certificate .* failed validation against/);
    const b = dirs.both(['-c', 'read 0 1', '--image-opts', opts(tlsPort)]);
    expect(b.ours).toEqual(b.theirs);
    expect(b.ours.stderr).toBe("qemu-io: can't open: No TLS credentials with id 'tls0'\n");
  });

  it.each([
    ['no credentials for a TLS server', (): string[] => ['--image-opts', opts(tlsPort, '')]],
    ['credentials for a plain server', (): string[] => ['--object', clientObject(), '--image-opts', opts(plainPort)]],
    ['a CA that did not sign the server', (): string[] => ['--object', clientObject(join(dirs.root, 'foreign')), '--image-opts', opts(tlsPort)]],
  ])('%s: exit 1 and qemu-io\'s words', (_name, args) => {
    const { ours, theirs } = dirs.both(['-c', 'read 0 1', ...args()]);
    expect(theirs.code).toBe(1);
    expect(ours).toEqual(theirs);
    expect(ours.stderr).toMatch(/^qemu-io: can't open: /);
  });
});
