// tsemu-img as a TLS client of the real qemu-nbd 7.2, side by side with
// qemu-img: `--object tls-creds-x509,...,endpoint=client` plus `tls-creds=ID`
// in --image-opts or json: filenames, for info, map, compare and convert in
// both directions; --object's own messages; and the refusals (no credentials,
// credentials against a plain server, a foreign CA, an unknown id).
import type { ChildProcess } from 'node:child_process';
import { copyFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeCa, startQemuNbd } from '../../../packages/block-nbd/test/tls-fixtures.js';
import { SideBySide, run } from './harness.js';

const w = new SideBySide();
const pki = join(w.root, 'pki');
const servers: ChildProcess[] = [];
let tlsPort = 0;
let plainPort = 0;

const clientObject = (dir = pki, extra = ''): string => `tls-creds-x509,id=tls0,dir=${dir},endpoint=client${extra}`;
const opts = (port: number, more = ',tls-creds=tls0'): string =>
  `driver=nbd,server.type=inet,server.host=127.0.0.1,server.port=${port},export=tlsdisk${more}`;
const jsonName = (): string =>
  `json:${JSON.stringify({ driver: 'nbd', server: { type: 'inet', host: '127.0.0.1', port: String(tlsPort) }, export: 'tlsdisk', 'tls-creds': 'tls0' })}`;

/** Same command line through both tools: same stdout, stderr (tsemu-img speaks as qemu-img) and exit status. */
function same(args: string[]): { stdout: string; stderr: string; code: number } {
  const { qemu, tsemu } = w.compare(args);
  expect(tsemu).toEqual(qemu);
  return tsemu;
}

beforeAll(async () => {
  makeCa(pki, 'tsemu test CA', ['server', 'client']);
  makeCa(join(w.root, 'foreign'), 'another CA', ['client']);
  mkdirSync(join(w.root, 'ca-only'));
  copyFileSync(join(pki, 'ca-cert.pem'), join(w.root, 'ca-only', 'ca-cert.pem'));
  // Our client certificate next to a CA that did not sign it: refused when the object is made.
  mkdirSync(join(w.root, 'mismatch'));
  copyFileSync(join(w.root, 'foreign', 'ca-cert.pem'), join(w.root, 'mismatch', 'ca-cert.pem'));
  for (const f of ['client-cert.pem', 'client-key.pem']) copyFileSync(join(pki, f), join(w.root, 'mismatch', f));
  const disk = join(w.root, 'export.qcow2');
  for (const args of [['create', '-f', 'qcow2', disk, '16M'], ['create', '-f', 'raw', join(w.root, 'plain.raw'), '4M']]) {
    expect(run('qemu-img', args, w.root).code).toBe(0);
  }
  expect(run('qemu-io', ['-f', 'qcow2', '-c', 'write -P 0xab 0 64k', '-c', 'write -P 0xcd 1M 64k', disk], w.root).code).toBe(0);
  // Local copies of the export's contents: one equal, one that differs at 1M + 4k.
  w.both('qemu-img', ['convert', '-O', 'raw', disk, 'copy.raw']);
  w.both('qemu-img', ['convert', '-O', 'raw', disk, 'other.raw']);
  w.both('qemu-io', ['-f', 'raw', '-c', 'write -P 0x11 1052672 512', 'other.raw']);
  tlsPort = await startQemuNbd(['--object', `tls-creds-x509,id=tls0,dir=${pki},endpoint=server`, '--tls-creds', 'tls0',
    '-f', 'qcow2', '-t', '-e', '4', '-x', 'tlsdisk', disk], servers);
  plainPort = await startQemuNbd(['-f', 'raw', '-t', '-x', 'tlsdisk', join(w.root, 'plain.raw')], servers);
});

afterAll(() => {
  for (const s of servers) s.kill('SIGKILL');
  w.cleanup();
});

describe('tsemu-img through TLS to qemu-nbd 7.2', () => {
  it.each([
    ['info', [], 'virtual size: 16 MiB'],
    ['info', ['--output=json'], '"virtual-size": 16777216'],
    ['map', [], '0x100000        0x10000         0x100000'],
    ['map', ['--output=json'], '{ "start": 1048576, "length": 65536, "depth": 0, "present": true, "zero": false, "data": true'],
  ])('%s %j with --image-opts tls-creds prints what qemu-img prints', (cmd, extra, fragment) => {
    const r = same([cmd, ...extra, '--object', clientObject(), '--image-opts', opts(tlsPort)]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(fragment);
  });

  it('a json: filename and tls-hostname work the same', () => {
    expect(same(['info', '--object', clientObject(), jsonName()]).code).toBe(0);
    expect(same(['map', '--output=json', '--object', clientObject(), '--image-opts', opts(tlsPort, ',tls-creds=tls0,tls-hostname=localhost')]).code).toBe(0);
    // verify-peer=off: the server certificate's name is not checked.
    expect(same(['info', '--object', clientObject(pki, ',verify-peer=off'), '--image-opts', opts(tlsPort, ',tls-creds=tls0,tls-hostname=elsewhere')]).code).toBe(0);
  });

  it('compare against local files: identical (0) and the first mismatch (1)', () => {
    expect(same(['compare', '--object', clientObject(), '-F', 'raw', jsonName(), 'copy.raw'])).toMatchObject({ code: 0, stdout: 'Images are identical.\n' });
    const r = same(['compare', '--object', clientObject(), '--image-opts', opts(tlsPort), 'driver=file,filename=other.raw']);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('Content mismatch at offset 1052672!\n');
  });

  it('convert from the export gives the same images', () => {
    for (const fmt of ['raw', 'qcow2']) {
      same(['convert', '--object', clientObject(), '-O', fmt, '--image-opts', opts(tlsPort), `from.${fmt}`]);
      // The same bytes and the same allocation as qemu-img's output.
      expect(run('qemu-img', ['compare', join(w.q, `from.${fmt}`), join(w.t, `from.${fmt}`)], w.root).code).toBe(0);
      const map = (dir: string): string => run('qemu-img', ['map', '--output=json', join(dir, `from.${fmt}`)], w.root).stdout;
      expect(map(w.t)).toBe(map(w.q));
    }
  });

  it('convert into the export (-n --target-image-opts), with -p', () => {
    const before = run('qemu-img', ['compare', '--object', clientObject(), '-F', 'raw', jsonName(), join(w.q, 'other.raw')], w.root);
    expect(before.code).toBe(1);
    // The export (shared by both runs) receives other.raw; both tools print the same progress and succeed.
    const r = same(['convert', '-p', '--object', clientObject(), '-n', '--target-image-opts', 'other.raw', opts(tlsPort)]);
    expect(r.code).toBe(0);
    expect(run('qemu-img', ['compare', '--object', clientObject(), '-F', 'raw', jsonName(), join(w.t, 'other.raw')], w.root).code).toBe(0);
    // Writes the export back as it was, so the test order does not matter.
    expect(same(['convert', '--object', clientObject(), '-n', '--target-image-opts', 'copy.raw', opts(tlsPort)]).code).toBe(0);
    // -O with --target-image-opts, and -c to a protocol without compression: qemu-img's refusals.
    expect(same(['convert', '--object', clientObject(), '-n', '-O', 'raw', '--target-image-opts', 'copy.raw', opts(tlsPort)]).code).toBe(1);
    expect(same(['convert', '--object', clientObject(), '-c', '-n', '--target-image-opts', 'copy.raw', opts(tlsPort)]).code).toBe(1);
  });
});

describe('--object definitions, as qemu-img 7.2 takes and refuses them', () => {
  const defs = (): string[] => [
    '', 'id=x', 'foo,id=x', 'tls-creds-x509', 'tls-creds-x509,id=x', 'tls-creds-x509,id=1x,dir=/tmp',
    `tls-creds-x509,id=x,dir=${pki},endpoint=bogus`, `tls-creds-x509,id=x,dir=${pki},verify-peer=maybe`,
    `tls-creds-x509,id=x,dir=${pki},bogus=1`, `tls-creds-x509,id=x,dir=${pki},verify-peer`, `tls-creds-x509,id=x,dir=${pki},loaded=on`,
    'tls-creds-x509,id=x,dir=/nonexistent', `tls-creds-x509,id=x,dir=${join(w.root, 'ca-only')},endpoint=server`,
    `tls-creds-x509,id=x,dir=${join(w.root, 'mismatch')},endpoint=client`, `tls-creds-x509,id=x,dir=${pki},passwordid=nope`,
    'tls-creds-x509,,id=x', 'tls-creds-x509,id=x,a.b=1', 'tls-creds-x509,id=x,1=1',
    'secret,id=s', 'secret,id=s,data=1,file=/etc/hostname', 'secret,id=s,file=/nonexistent', 'secret,id=s,data=@@,format=base64',
    'secret,id=s,data=1,format=hex', 'secret,id=s,data=1,keyid=s', 'help', 'secret,help', 'tls-creds-x509,id=x,help',
  ];
  it('each definition: the same message (or help) and exit status', () => {
    for (const def of defs()) same(['info', '--object', def, 'missing.img']);
  });

  it('accepted definitions go on to open the image; a repeated id is refused', () => {
    for (const def of ['secret,id=s,data=1', 'secret,id=s,data=YWJj,format=base64', 'qom-type=secret,id=s,file=/etc/hostname',
      `tls-creds-x509,id=x,dir=${pki},endpoint=server`, `tls-creds-x509,id=x,dir=${join(w.root, 'ca-only')}`,
      `tls-creds-x509,id=x,dir=${join(w.root, 'mismatch')},sanity-check=off`]) {
      expect(same(['info', '--object', def, 'missing.img']).stderr).toContain("Could not open 'missing.img'");
    }
    same(['info', '--object', 'secret,id=s,data=1', '--object', `tls-creds-x509,id=s,dir=${pki}`, 'missing.img']);
  });

  it('every command that takes --object takes it; compare exits 2 on a bad one; bench has no --object', () => {
    w.both('qemu-img', ['create', '-f', 'qcow2', 'a.qcow2', '1M']);
    for (const cmd of [['check', 'a.qcow2'], ['snapshot', '-l', 'a.qcow2'], ['resize', 'a.qcow2', '1M'], ['amend', '-o', 'compat=1.1', 'a.qcow2'],
      ['commit', 'a.qcow2'], ['rebase', '-u', '-b', '', 'a.qcow2'], ['measure', '-O', 'qcow2', 'a.qcow2'], ['create', '-f', 'raw', 'n.raw', '1M'],
      ['dd', 'if=a.qcow2', 'of=o.raw'], ['map', 'a.qcow2'], ['compare', 'a.qcow2', 'a.qcow2'], ['convert', 'a.qcow2', 'o2.raw'], ['bench', '-c', '1', 'a.qcow2']]) {
      same([cmd[0]!, '--object', 'secret,id=s,data=1', ...cmd.slice(1)]);
      same([cmd[0]!, '--object', 'secret,id=s', ...cmd.slice(1)]);
    }
  }, 240_000); // 52 tool runs: 30 s on a quiet machine, past the default 60 s under load
});

describe('refusals', () => {
  /** qemu-img's exit status and its words, line for line. */
  function sameFailure(args: string[]): string {
    const { qemu, tsemu } = w.compare(args);
    expect(qemu.code).toBe(1);
    expect(tsemu).toEqual(qemu);
    return tsemu.stderr;
  }

  it('tls-creds naming no object: qemu-img\'s message', () => {
    expect(same(['info', '--image-opts', opts(tlsPort)]).stderr).toContain("No TLS credentials with id 'tls0'");
  });

  it('no credentials for a server that requires TLS', () => {
    expect(sameFailure(['info', '--image-opts', opts(tlsPort, '')])).toMatch(/TLS/);
  });

  it('credentials for a server without TLS', () => {
    expect(sameFailure(['info', '--object', clientObject(), '--image-opts', opts(plainPort)])).toMatch(/TLS not configured/);
  });

  it('a CA that did not sign the server certificate, and no client certificate', () => {
    sameFailure(['info', '--object', clientObject(join(w.root, 'foreign')), '--image-opts', opts(tlsPort)]);
    sameFailure(['info', '--object', clientObject(join(w.root, 'ca-only')), '--image-opts', opts(tlsPort)]);
  });

  it('a server endpoint, or a host name the certificate does not carry', () => {
    sameFailure(['info', '--object', `tls-creds-x509,id=tls0,dir=${pki},endpoint=server`, '--image-opts', opts(tlsPort)]);
    sameFailure(['info', '--object', clientObject(), '--image-opts', opts(tlsPort, ',tls-creds=tls0,tls-hostname=elsewhere')]);
  });
});
