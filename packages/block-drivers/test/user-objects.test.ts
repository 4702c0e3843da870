// createUserObject in-process: what the side-by-side CLI tests cannot see
// (secret values, the registry across runs). Messages are checked against
// qemu-img in apps/tsemu-img/test/nbd-tls-client.test.ts.
import { execFileSync } from 'node:child_process';
import { createCipheriv, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { findTlsCredentials } from '@tsemu/block-nbd';
import { createUserObject, findSecret, resetUserObjects, UserObjectError } from '@tsemu/block-drivers';

const dir = mkdtempSync(join(tmpdir(), 'tsemu-objects-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
beforeEach(() => resetUserObjects());

const text = (id: string): string => Buffer.from(findSecret(id) ?? []).toString('utf8');
const refusal = (def: string): string => {
  try {
    createUserObject(def);
  } catch (err) {
    expect(err).toBeInstanceOf(UserObjectError);
    return (err as Error).message;
  }
  throw new Error(`accepted: ${def}`);
};

describe('secret', () => {
  it('data, file, base64 and ",," inside values', () => {
    createUserObject('secret,id=a,data=x,,y');
    expect(text('a')).toBe('x,y');
    createUserObject('secret,id=b,data=aGVsbG8=,format=base64');
    expect(text('b')).toBe('hello');
    writeFileSync(join(dir, 'pw'), 'from a file');
    createUserObject(`qom-type=secret,id=c,file=${join(dir, 'pw')}`);
    expect(text('c')).toBe('from a file');
  });

  it('keyid/iv: AES-256-CBC ciphertext as openssl enc makes it', () => {
    const key = randomBytes(32);
    const iv = randomBytes(16);
    const c = createCipheriv('aes-256-cbc', key, iv);
    const ciphertext = Buffer.concat([c.update('letmein'), c.final()]);
    createUserObject(`secret,id=master,data=${key.toString('base64')},format=base64`);
    createUserObject(`secret,id=pw,data=${ciphertext.toString('base64')},format=base64,keyid=master,iv=${iv.toString('base64')}`);
    expect(text('pw')).toBe('letmein');
    expect(refusal('secret,id=q,data=0123456789abcdef,keyid=pw,iv=x')).toBe('Key should be 32 bytes in length');
  });

  it('a failed object leaves no id behind; a reset forgets them all', () => {
    expect(refusal('secret,id=s')).toBe("Either 'file' or 'data' must be provided");
    createUserObject('secret,id=s,data=1');
    expect(refusal('secret,id=s,data=2')).toBe("attempt to add duplicate property 's' to object (type 'container')");
    resetUserObjects();
    expect(findSecret('s')).toBeUndefined();
    createUserObject('secret,id=s,data=2');
    expect(text('s')).toBe('2');
  });
});

describe('keyval and help', () => {
  it('help anywhere lists the types, or the options of a known type', () => {
    expect(createUserObject('help')?.help).toMatch(/^List of user creatable objects:\n {2}authz-list\n/);
    expect(createUserObject('bogus,help')?.help).toMatch(/^List of user creatable objects:/);
    // List indices after the first fragment, as QEMU's keyval (authz-list's rules.0.match): parsed, help wins.
    expect(createUserObject('authz-list,rules.0.match=x,help')?.help).toMatch(/^authz-list options:\n {2}policy=/);
    expect(createUserObject('secret,id=x,?')?.help).toBe(
      'secret options:\n  data=<string>\n  file=<string>\n  format=<QCryptoSecretFormat>\n  iv=<string>\n  keyid=<string>\n');
  });

  it.each([
    ['', "Parameter 'qom-type' is missing"],
    ['secret=1', "Parameter 'qom-type' is missing"],
    ['tls-creds-x509,,id=x', "Invalid parameter ''"],
    ['secret,id=x,data', "Expected '=' after parameter 'data'"],
    ['secret,id=x,a..b=1', "Invalid parameter 'a..b'"],
    ['secret,id=x,0=1', "Invalid parameter '0'"],
    ['secret,0,help', "Invalid parameter '0'"],
    ['secret,id=x,a.0b=1', "Invalid parameter 'a.0b'"],
    ['secret,id=x,a.0=1', "Parameter 'a' is unexpected"],
    ['secret,id=x,data=1,data.y=2', "Parameters 'data.*' used inconsistently"],
    ['secret,id=x,data.y=2', "Parameters 'data.*' are unexpected"],
    ['secret,id=x,z.y=2', "Parameter 'z' is unexpected"],
    ['tls-creds-x509,id=x,dir=/d,sanity-check=maybe', "Parameter 'sanity-check' expects 'on' or 'off'"],
  ])('%j: %s', (def, message) => {
    expect(refusal(def)).toBe(message);
  });
});

describe('tls-creds-x509', () => {
  it('is loaded when made and registered with block-nbd, verify-peer as given', () => {
    const pki = join(dir, 'pki');
    execFileSync('mkdir', ['-p', pki]);
    writeFileSync(join(pki, 'ca-cert.pem'), '');
    // ca-cert.pem is there but is no certificate: refused when made, nothing registered.
    expect(refusal(`tls-creds-x509,id=t,dir=${pki}`)).toBe(`Unable to import CA certificate list ${pki}/ca-cert.pem`);
    expect(() => findTlsCredentials('t')).toThrow(/No TLS credentials/);
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', join(pki, 'ca-key.pem'), '-subj', '/CN=t',
      '-days', '1', '-out', join(pki, 'ca-cert.pem')], { stdio: 'ignore' });
    createUserObject(`tls-creds-x509,id=t,dir=${pki},endpoint=client,verify-peer=no`);
    expect(findTlsCredentials('t')).toMatchObject({ id: 't', dir: pki, endpoint: 'client', verifyPeer: false });
    // A server needs its certificate and key.
    expect(refusal(`tls-creds-x509,id=u,dir=${pki},endpoint=server`)).toBe(`Unable to access credentials ${pki}/server-cert.pem: No such file or directory`);
  });
});
