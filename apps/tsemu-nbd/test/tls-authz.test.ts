// --tls-authz with authz-simple and authz-list: the real qemu-nbd 7.2 and
// tsemu-nbd get the same command line and the same clients; whether each
// client is served, and the line each server prints for a refused one (the
// client certificate's DN in GnuTLS's format), must be identical. Also the
// bad command lines, compared the same way.
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run, runTsemuNbd, serveQemu, serveTsemu, tempDir, type RunResult, type Served } from './tls-servers.js';

// Made at load time: the test tables below name paths inside it.
const dir = tempDir('tsemu-nbd-authz-');
const pki = join(dir, 'pki');
const image = join(dir, 'd.raw');
/** The client certificate's subject as GnuTLS (and so qemu-nbd) writes it. */
const DN = 'C=GB,O=Tsemu Org,L=Lon\\, don,CN=tsemu client,EMAIL=client@example.com';
/** The same in QEMU's option syntax (commas doubled). */
const DN_OPT = DN.replaceAll(',', ',,');

function makePki(into: string): void {
  const ssl = (...args: string[]): void => void execFileSync('openssl', args, { cwd: into, stdio: 'ignore' });
  writeFileSync(join(into, 'server.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n');
  writeFileSync(join(into, 'client.ext'), 'keyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=clientAuth\n');
  ssl('genrsa', '-out', 'ca-key.pem', '2048');
  ssl('req', '-x509', '-new', '-key', 'ca-key.pem', '-subj', '/CN=tsemu authz CA', '-days', '2', '-out', 'ca-cert.pem',
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign');
  const subjects = { server: '/CN=localhost', client: '/C=GB/O=Tsemu Org/L=Lon, don/CN=tsemu client/emailAddress=client@example.com' };
  for (const who of ['server', 'client'] as const) {
    ssl('genrsa', '-out', `${who}-key.pem`, '2048');
    ssl('req', '-new', '-key', `${who}-key.pem`, '-subj', subjects[who], '-out', `${who}.csr`);
    ssl('x509', '-req', '-in', `${who}.csr`, '-CA', 'ca-cert.pem', '-CAkey', 'ca-key.pem', '-CAcreateserial', '-days', '2',
      '-out', `${who}-cert.pem`, '-extfile', `${who}.ext`);
  }
}

/** A client certificate from a CA the server does not know (next to the right ca-cert.pem). */
function makeRogue(into: string): void {
  const ssl = (...args: string[]): void => void execFileSync('openssl', args, { cwd: into, stdio: 'ignore' });
  ssl('genrsa', '-out', 'other-ca-key.pem', '2048');
  ssl('req', '-x509', '-new', '-key', 'other-ca-key.pem', '-subj', '/CN=other CA', '-days', '2', '-out', 'other-ca.pem',
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign');
  ssl('genrsa', '-out', 'client-key.pem', '2048');
  ssl('req', '-new', '-key', 'client-key.pem', '-subj', '/CN=rogue', '-out', 'client.csr');
  ssl('x509', '-req', '-in', 'client.csr', '-CA', 'other-ca.pem', '-CAkey', 'other-ca-key.pem', '-CAcreateserial', '-days', '2',
    '-out', 'client-cert.pem', '-extfile', join(pki, 'client.ext'));
  copyFileSync(join(pki, 'ca-cert.pem'), join(into, 'ca-cert.pem'));
}

beforeAll(async () => {
  mkdirSync(pki);
  makePki(pki);
  mkdirSync(join(dir, 'bare'));
  copyFileSync(join(pki, 'ca-cert.pem'), join(dir, 'bare', 'ca-cert.pem'));
  mkdirSync(join(dir, 'rogue'));
  makeRogue(join(dir, 'rogue'));
  mkdirSync(join(dir, 'psk'));
  writeFileSync(join(dir, 'psk', 'keys.psk'), 'alice:00112233445566778899aabbccddeeff\nbob:ffeeddccbbaa99887766554433221100\n');
  expect((await run('qemu-img', ['create', '-f', 'raw', image, '4M'])).code).toBe(0);
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

const x509 = (extra = ''): string[] => ['--object', `tls-creds-x509,id=tls0,endpoint=server,dir=${pki}${extra}`, '--tls-creds', 'tls0'];
const nbdinfo = (certDir: string) => (sock: string): Promise<RunResult> => run('nbdinfo', ['--size', `nbds+unix:///?socket=${sock}&tls-certificates=${certDir}`]);
const pskInfo = (user: string) => (sock: string): Promise<RunResult> =>
  run('nbdinfo', ['--size', `nbds+unix://${user}@/?socket=${sock}&tls-psk-file=${join(dir, 'psk', 'keys.psk')}`]);
/** tsemu-nbd's own client (-L), which sends whatever certificate it has. */
const tsemuList = (certDir: string) => (sock: string): Promise<RunResult> =>
  runTsemuNbd(['-L', '--object', `tls-creds-x509,id=c,endpoint=client,dir=${certDir}`, '--tls-creds', 'c', '-k', sock]);

interface Outcome {
  served: boolean;
  /** What the server printed about this client. */
  lines: string[];
}

/** Both servers with `args`; `client` against each; returns [tsemu, qemu] outcomes. */
async function sideBySide(args: string[], client: (sock: string) => Promise<RunResult>): Promise<[Outcome, Outcome]> {
  const tag = Math.random().toString(36).slice(2);
  const servers: Served[] = [];
  try {
    servers.push(await serveTsemu(join(dir, `t-${tag}.sock`), [...args, '-f', 'raw', '-t', '-r', image]));
    servers.push(await serveQemu(join(dir, `q-${tag}.sock`), [...args, '-f', 'raw', '-t', '-r', image]));
    const out: Outcome[] = [];
    for (const s of servers) {
      const served = (await client(s.socket)).code === 0;
      // A refused client is reported on stderr once dropped: wait for that line.
      if (!served) await s.linesAtLeast(1);
      out.push({ served, lines: s.stderr() === '' ? [] : s.stderr().split('\n') });
    }
    return [out[0]!, out[1]!];
  } finally {
    for (const s of servers) await s.stop();
  }
}

describe('--tls-authz, tsemu-nbd and qemu-nbd 7.2 side by side', () => {
  const denied = (what: string): Outcome => ({ served: false, lines: [`qemu-nbd: option negotiation failed: ${what}`] });
  const served: Outcome = { served: true, lines: [] };
  const cases: [string, string[], (sock: string) => Promise<RunResult>, Outcome][] = [
    ['authz-simple with the client DN serves it', ['--object', `authz-simple,id=a,identity=${DN_OPT}`, ...x509(), '--tls-authz', 'a'], nbdinfo(pki), served],
    ['authz-simple with another DN refuses it', ['--object', 'authz-simple,id=a,identity=CN=tsemu client', ...x509(), '--tls-authz', 'a'], nbdinfo(pki),
      denied(`TLS x509 authz check for ${DN} is denied`)],
    ['authz-list: a glob rule allows before the deny policy', ['--object', 'authz-list,id=a,policy=deny,rules.0.match=C=GB*,rules.0.policy=allow,rules.0.format=glob',
      ...x509(), '--tls-authz', 'a'], nbdinfo(pki), served],
    ['authz-list: an exact rule denies before the allow policy', ['--object', `authz-list,id=a,policy=allow,rules.0.match=CN=x,rules.0.policy=allow,rules.1.match=${DN_OPT},rules.1.policy=deny`,
      ...x509(), '--tls-authz', 'a'], nbdinfo(pki), denied(`TLS x509 authz check for ${DN} is denied`)],
    ['authz-list: the default policy is deny', ['--object', 'authz-list,id=a', ...x509(), '--tls-authz', 'a'], nbdinfo(pki),
      denied(`TLS x509 authz check for ${DN} is denied`)],
    ['an unknown authz id refuses every client', [...x509(), '--tls-authz', 'nope'], nbdinfo(pki), denied('Cannot find QAuthZ object ID nope')],
    ['a client without a certificate', ['--object', 'authz-list,id=a,policy=allow', ...x509(), '--tls-authz', 'a'], nbdinfo(join(dir, 'bare')),
      denied('Verify failed: No certificate was found.')],
    ['a certificate from an unknown CA (tsemu client)', x509(), tsemuList(join(dir, 'rogue')), denied("The certificate hasn't got a known issuer")],
    ['verify-peer=off: no check, authz ignored', ['--object', 'authz-list,id=a', ...x509(',verify-peer=off'), '--tls-authz', 'a'], nbdinfo(join(dir, 'bare')), served],
    ['PSK: qemu-nbd 7.2 does not apply authz to usernames', ['--object', 'authz-simple,id=a,identity=bob',
      '--object', `tls-creds-psk,id=tls0,endpoint=server,dir=${join(dir, 'psk')}`, '--tls-creds', 'tls0', '--tls-authz', 'a'], pskInfo('alice'), served],
  ];
  it.each(cases)('%s', async (_name, args, client, expected) => {
    const [ours, real] = await sideBySide(args, client);
    expect(real).toEqual(expected);
    expect(ours).toEqual(real);
  });

  it('an allowed client writes and reads through qemu-io', async () => {
    const sock = join(dir, 'io.sock');
    const s = await serveTsemu(sock, ['--object', `authz-simple,id=a,identity=${DN_OPT}`, ...x509(), '--tls-authz', 'a', '-f', 'raw', '-t', image]);
    try {
      const r = await run('qemu-io', ['--object', `tls-creds-x509,id=c,endpoint=client,dir=${pki}`, '--image-opts',
        '-c', 'write -P 0x42 0 4k', '-c', 'read -P 0x42 0 4k', `driver=nbd,server.type=unix,server.path=${sock},tls-creds=c,tls-hostname=localhost`]);
      expect(r.stderr).toBe('');
      expect(r.stdout).toContain('read 4096/4096 bytes at offset 0');
    } finally {
      await s.stop();
    }
  });
});

describe('bad --tls-authz / authz command lines, compared with qemu-nbd 7.2', () => {
  const cases: [string, string[]][] = [
    ['--tls-authz without --tls-creds', ['--object', 'authz-simple,id=a,identity=x', '--tls-authz', 'a', '-f', 'raw', 'IMG']],
    ['--tls-authz with --list', ['--object', 'authz-simple,id=a,identity=x', '--object', `tls-creds-x509,id=c,endpoint=client,dir=PKI`,
      '--tls-creds', 'c', '--tls-authz', 'a', '-L']],
    ['authz-simple without identity', ['--object', 'authz-simple,id=a', '-f', 'raw', 'IMG']],
    ['authz-simple without id', ['--object', 'authz-simple,identity=x', '-f', 'raw', 'IMG']],
    ['authz-simple, unexpected parameter', ['--object', 'authz-simple,id=a,identity=x,bogus=1', '-f', 'raw', 'IMG']],
    ['authz-list, bad policy', ['--object', 'authz-list,id=a,policy=maybe', '-f', 'raw', 'IMG']],
    ['authz-list, rule without match', ['--object', 'authz-list,id=a,rules.0.policy=allow', '-f', 'raw', 'IMG']],
    ['authz-list, rule without policy', ['--object', 'authz-list,id=a,rules.0.match=x', '-f', 'raw', 'IMG']],
    ['authz-list, bad format', ['--object', 'authz-list,id=a,rules.0.match=x,rules.0.policy=allow,rules.0.format=regex', '-f', 'raw', 'IMG']],
    ['authz-list, rules not from 0', ['--object', 'authz-list,id=a,rules.1.match=x,rules.1.policy=allow', '-f', 'raw', 'IMG']],
    ['authz-listfile is not in qemu-nbd', ['--object', 'authz-listfile,id=a,filename=/nonexistent', '-f', 'raw', 'IMG']],
    ['authz-pam is not in qemu-nbd', ['--object', 'authz-pam,id=a,service=x', '-f', 'raw', 'IMG']],
    ['duplicate authz id', ['--object', 'authz-simple,id=a,identity=x', '--object', 'authz-simple,id=a,identity=y', '-f', 'raw', 'IMG']],
    ['--tls-creds names an authz object', ['--object', 'authz-simple,id=a,identity=x', '--tls-creds', 'a', '-f', 'raw', 'IMG']],
    ['--tls-creds names nothing', ['--tls-creds', 'zz', '-f', 'raw', 'IMG']],
    ['--tls-creds names client credentials', ['--object', `tls-creds-x509,id=c,endpoint=client,dir=PKI`, '--tls-creds', 'c', '-f', 'raw', 'IMG']],
  ];
  it.each(cases)('%s', async (_name, argv) => {
    const args = argv.map((a) => (a === 'IMG' ? image : a.replace('PKI', pki))).concat(['-k', join(dir, 'never.sock')]);
    const real = await run('qemu-nbd', args, 10_000);
    const ours = await runTsemuNbd(args);
    expect(real.code).toBe(1);
    expect(real.stderr).toMatch(/^qemu-nbd: [^\n]+\n$/);
    expect(ours).toEqual(real);
  });
});
