// TLS with certificates made here in QEMU's directory layout (ca-cert.pem,
// server-cert.pem/-key.pem, client-cert.pem/-key.pem): qemu-io and nbdinfo
// as TLS clients of tsemu-nbd, the tsemu client against tsemu-nbd and the
// real qemu-nbd, and refusal of plaintext or certificate-less clients.
import { execFileSync, spawn } from 'node:child_process';
import { copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openImage } from '@tsemu/block-core';
import { NbdClient, NbdOption, NbdOptionReply, parseTlsCredsObject, registerTlsCredentials } from '@tsemu/block-nbd';
import { main } from '../src/index.js';
import { RawSession } from './raw-client.js';
import { InProcessServer, cleanupDir, run, tempDir, waitForListener } from './helpers.js';

let dir: string;
let pki: string;
let image: string;
let server: InProcessServer;

/** A throwaway CA, a server certificate for 127.0.0.1/localhost and a client certificate. */
function makePki(into: string): void {
  const ssl = (...args: string[]): void => void execFileSync('openssl', args, { cwd: into, stdio: 'ignore' });
  writeFileSync(join(into, 'server.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n');
  writeFileSync(join(into, 'client.ext'), 'keyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=clientAuth\n');
  ssl('genrsa', '-out', 'ca-key.pem', '2048');
  ssl('req', '-x509', '-new', '-key', 'ca-key.pem', '-subj', '/CN=tsemu test CA', '-days', '2', '-out', 'ca-cert.pem',
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign');
  for (const who of ['server', 'client']) {
    ssl('genrsa', '-out', `${who}-key.pem`, '2048');
    ssl('req', '-new', '-key', `${who}-key.pem`, '-subj', `/CN=${who === 'server' ? 'localhost' : 'tsemu client'}`, '-out', `${who}.csr`);
    ssl('x509', '-req', '-in', `${who}.csr`, '-CA', 'ca-cert.pem', '-CAkey', 'ca-key.pem', '-CAcreateserial', '-days', '2',
      '-out', `${who}-cert.pem`, '-extfile', `${who}.ext`);
  }
}

beforeAll(async () => {
  dir = tempDir('tsemu-nbd-tls-');
  pki = join(dir, 'pki');
  mkdirSync(pki);
  makePki(pki);
  image = join(dir, 'd.raw');
  expect((await run('qemu-img', ['create', '-f', 'raw', image, '4M'])).code).toBe(0);
  server = await InProcessServer.start([
    '--object', `tls-creds-x509,id=tls0,dir=${pki},endpoint=server`, '--tls-creds', 'tls0',
    '-f', 'raw', '-t', '-e', '4', '-x', 'tlsdisk', '-p', '0', image,
  ]);
  registerTlsCredentials(parseTlsCredsObject(`tls-creds-x509,id=ctls,dir=${pki},endpoint=client`));
});

afterAll(async () => {
  await server?.stop();
  cleanupDir(dir);
});

const port = (): number => (server.address as { port: number }).port;

describe('TLS', () => {
  it('qemu-io 7.2 writes and reads through TLS', async () => {
    const r = await run('qemu-io', [
      '--object', `tls-creds-x509,id=tls0,dir=${pki},endpoint=client`, '--image-opts',
      '-c', 'write -P 0x77 0 64k', '-c', 'read -P 0x77 0 64k',
      `driver=nbd,server.type=inet,server.host=127.0.0.1,server.port=${port()},export=tlsdisk,tls-creds=tls0`,
    ]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('read 65536/65536 bytes at offset 0');
  });

  it('nbdinfo connects with nbds:// and the same certificate directory', async () => {
    const r = await run('nbdinfo', ['--json', `nbds://127.0.0.1:${port()}/tlsdisk?tls-certificates=${pki}`]);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ TLS: true, exports: [{ 'export-name': 'tlsdisk', 'export-size': 4 << 20 }] });
  });

  it('a plaintext client is refused and the server carries on', async () => {
    const r = await run('nbdinfo', [`nbd://127.0.0.1:${port()}/tlsdisk`]);
    expect(r.code).not.toBe(0);
    await expect(NbdClient.connect({ type: 'inet', host: '127.0.0.1', port: port() }, 'tlsdisk')).rejects.toThrow(/TLS negotiation required before option/);
  });

  it('STARTTLS followed by garbage, or options before TLS, only hurt that client', async () => {
    const a = await RawSession.open({ host: '127.0.0.1', port: port() });
    await a.start();
    expect((await a.option(NbdOption.LIST))[0]!.type).toBe(NbdOptionReply.ERR_TLS_REQD);
    expect((await a.option(NbdOption.STARTTLS))[0]!.type).toBe(NbdOptionReply.ACK);
    a.send(new Uint8Array(300).fill(0x16));
    await a.closedPromise;
    const r = await run('nbdinfo', ['--size', `nbds://127.0.0.1:${port()}/tlsdisk?tls-certificates=${pki}`]);
    expect(r.stdout.trim()).toBe(String(4 << 20));
  });

  it('a client without a certificate fails the handshake (verify-peer)', async () => {
    const bare = join(dir, 'bare');
    mkdirSync(bare);
    copyFileSync(join(pki, 'ca-cert.pem'), join(bare, 'ca-cert.pem'));
    const creds = parseTlsCredsObject(`tls-creds-x509,id=bare,dir=${bare},endpoint=client`);
    await expect(NbdClient.connect({ type: 'inet', host: '127.0.0.1', port: port() }, 'tlsdisk', { creds, hostname: '127.0.0.1' }))
      .rejects.toThrow();
  });

  it('the tsemu client opens the export with tls-creds, and -L lists over TLS', async () => {
    const blk = await openImage({ filename: `driver=nbd,server.host=127.0.0.1,server.port=${port()},export=tlsdisk,tls-creds=ctls`, imageOpts: true });
    const b = new Uint8Array(16);
    await blk.read(0, b);
    expect(b.every((x) => x === 0x77)).toBe(true);
    await blk.close();
    let out = '';
    const code = await main(['-L', '--object', `tls-creds-x509,id=c,dir=${pki},endpoint=client`, '--tls-creds', 'c', '-b', '127.0.0.1', '-p', String(port())], {
      stdout: { write: (t: string) => (out += t) }, stderr: { write: () => true },
    });
    expect(code).toBe(0);
    expect(out).toContain(" export: 'tlsdisk'");
  });

  it('the tsemu client talks TLS to the real qemu-nbd 7.2', async () => {
    const sock = join(dir, 'q.sock');
    const q = spawn('qemu-nbd', ['--object', `tls-creds-x509,id=tls0,dir=${pki},endpoint=server`, '--tls-creds', 'tls0', '-f', 'raw', '-r', '-k', sock, image], { stdio: 'ignore' });
    try {
      await waitForListener(sock, q);
      const client = await NbdClient.connect({ type: 'unix', path: sock }, '', { creds: parseTlsCredsObject(`tls-creds-x509,id=q,dir=${pki},endpoint=client`), hostname: 'localhost' });
      const b = new Uint8Array(16);
      await client.read(0, 16, [b]);
      expect(b.every((x) => x === 0x77)).toBe(true);
      await client.close();
    } finally {
      q.kill('SIGKILL');
    }
  });
});
