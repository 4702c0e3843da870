// tls-creds-psk in the client: the key file's rules (first matching line,
// hex keys), the NBD client reading from the real qemu-nbd 7.2 over TLS with
// a pre-shared key, and a wrong key refused. The messages for bad key files
// are compared with qemu-nbd's in apps/tsemu-nbd/test/tls-psk.test.ts.
import { randomBytes } from 'node:crypto';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openImage } from '@tsemu/block-core';
import { NbdClient, lookupServerPsk, parseTlsCredsObject, registerTlsCredentials } from '../src/index.js';
import { Peers, run, tempDir } from './helpers.js';

let dir: string;
let pskDir: string;
const peers = new Peers();
const alice = randomBytes(32);

beforeAll(() => {
  dir = tempDir('tsemu-nbd-psk-client-');
  pskDir = join(dir, 'psk');
  mkdirSync(pskDir);
  writeFileSync(join(pskDir, 'keys.psk'), `nobody\nalice:${alice.toString('hex')}\nalice:00112233\n`);
});

afterAll(async () => {
  await peers.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('tls-creds-psk objects', () => {
  it('a client object loads the first key of its user; the default user is qemu', () => {
    const c = parseTlsCredsObject(`tls-creds-psk,id=p,endpoint=client,dir=${pskDir},username=alice`);
    expect(c).toMatchObject({ id: 'p', type: 'psk', endpoint: 'client', username: 'alice' });
    expect(c.pskKey!.equals(alice)).toBe(true);
    expect(() => parseTlsCredsObject(`tls-creds-psk,id=p,endpoint=client,dir=${pskDir}`)).toThrow('Username qemu not found in PSK file');
  });

  it('a server object only needs keys.psk to exist; it looks keys up at each handshake', () => {
    const d = join(dir, 'srv');
    mkdirSync(d);
    expect(() => parseTlsCredsObject(`tls-creds-psk,id=s,endpoint=server,dir=${d}`)).toThrow(`Unable to access credentials ${join(d, 'keys.psk')}`);
    writeFileSync(join(d, 'keys.psk'), 'bob:zz\n');
    expect(parseTlsCredsObject(`tls-creds-psk,id=s,endpoint=server,dir=${d}`)).toMatchObject({ type: 'psk', endpoint: 'server' });
    expect(lookupServerPsk(d, 'bob')).toBeNull();
    writeFileSync(join(d, 'keys.psk'), 'bob:0102030405\n');
    expect(lookupServerPsk(d, 'bob')).toEqual(Buffer.from([1, 2, 3, 4, 5]));
    expect(lookupServerPsk(d, 'carol')).toBeNull();
  });

  it('x509 objects parse as before', () => {
    expect(parseTlsCredsObject('tls-creds-x509,id=x,dir=/pki,endpoint=server,verify-peer=off'))
      .toEqual({ id: 'x', dir: '/pki', endpoint: 'server', verifyPeer: false });
  });
});

describe('the client against qemu-nbd 7.2 with tls-creds-psk', () => {
  it('reads through TLS 1.3 with the key, and a wrong key is refused', async () => {
    const image = join(dir, 'd.raw');
    expect((await run('qemu-img', ['create', '-f', 'raw', image, '1M'])).code).toBe(0);
    expect((await run('qemu-io', ['-f', 'raw', '-c', 'write -P 0x6b 0 64k', image])).code).toBe(0);
    const sock = join(dir, 'q.sock');
    await peers.qemuNbd(sock, ['--object', `tls-creds-psk,id=t,endpoint=server,dir=${pskDir}`, '--tls-creds', 't', '-f', 'raw', '-t', '-r', image]);
    registerTlsCredentials(parseTlsCredsObject(`tls-creds-psk,id=pc,endpoint=client,dir=${pskDir},username=alice`));
    const blk = await openImage({ filename: `driver=nbd,server.type=unix,server.path=${sock},tls-creds=pc`, imageOpts: true, readOnly: true });
    const b = new Uint8Array(65536);
    await blk.read(0, b);
    expect(b.every((x) => x === 0x6b)).toBe(true);
    await blk.close();

    const wrongDir = join(dir, 'wrong');
    mkdirSync(wrongDir);
    writeFileSync(join(wrongDir, 'keys.psk'), `alice:${randomBytes(32).toString('hex')}\n`);
    const creds = parseTlsCredsObject(`tls-creds-psk,id=w,endpoint=client,dir=${wrongDir},username=alice`);
    await expect(NbdClient.connect({ type: 'unix', path: sock }, '', { creds })).rejects.toThrow(/TLS handshake failed/);
  });
});
