// TLS fixtures for the tools' side-by-side tests against the real qemu-nbd:
// a CA with certificates in QEMU's file names, and qemu-nbd on a free port.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { freePort } from './helpers.js';

/** A CA in `dir`, plus certificates it signs for the named parties (QEMU's file names). */
export function makeCa(dir: string, cn: string, parties: ('server' | 'client')[]): void {
  mkdirSync(dir, { recursive: true });
  const ssl = (...args: string[]): void => void execFileSync('openssl', args, { cwd: dir, stdio: 'ignore' });
  writeFileSync(join(dir, 'server.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n');
  writeFileSync(join(dir, 'client.ext'), 'extendedKeyUsage=clientAuth\n');
  ssl('genrsa', '-out', 'ca-key.pem', '2048');
  ssl('req', '-x509', '-new', '-key', 'ca-key.pem', '-subj', `/CN=${cn}`, '-days', '2', '-out', 'ca-cert.pem',
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign');
  for (const who of parties) {
    ssl('genrsa', '-out', `${who}-key.pem`, '2048');
    ssl('req', '-new', '-key', `${who}-key.pem`, '-subj', `/CN=${who === 'server' ? 'localhost' : 'tsemu client'}`, '-out', `${who}.csr`);
    ssl('x509', '-req', '-in', `${who}.csr`, '-CA', 'ca-cert.pem', '-CAkey', 'ca-key.pem', '-CAcreateserial', '-days', '2',
      '-out', `${who}-cert.pem`, '-extfile', `${who}.ext`);
  }
}

/** Starts qemu-nbd on 127.0.0.1 (kept in `servers`, for the caller to kill) and waits until it accepts connections. */
export async function startQemuNbd(args: string[], servers: ChildProcess[]): Promise<number> {
  const port = await freePort();
  const child = spawn('qemu-nbd', [...args, '-b', '127.0.0.1', '-p', String(port)], { stdio: 'ignore' });
  servers.push(child);
  for (let i = 0; i < 500; i++) {
    if (child.exitCode !== null) throw new Error('qemu-nbd exited');
    const up = await new Promise<boolean>((resolve) => {
      const c = connect(port, '127.0.0.1', () => (c.destroy(), resolve(true))).on('error', () => resolve(false));
    });
    if (up) return port;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error('qemu-nbd did not start');
}
