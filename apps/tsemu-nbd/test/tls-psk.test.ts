// TLS with pre-shared keys (tls-creds-psk, keys.psk made here with random
// keys): nbdinfo, nbdcopy, qemu-io and qemu-img as clients of tsemu-nbd;
// tsemu-nbd's client (-L) against the real qemu-nbd; refused clients and
// bad command lines compared with qemu-nbd 7.2 side by side.
import { randomBytes, createHash } from 'node:crypto';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run, runTsemuNbd, serveQemu, serveTsemu, tempDir, type Served } from './tls-servers.js';

let dir: string;
let psk: string;
let image: string;
let tsemu: Served;
let qemu: Served;
const keyOf: Record<string, string> = {};

const sha = (path: string): string => createHash('sha256').update(readFileSync(path)).digest('hex');
const serverObject = (d: string): string => `tls-creds-psk,id=tls0,endpoint=server,dir=${d}`;
/** libnbd's form: user in the authority, key file in the query. */
const pskUri = (sock: string, user: string, file: string): string => `nbds+unix://${user}@/?socket=${sock}&tls-psk-file=${file}`;

beforeAll(async () => {
  dir = tempDir('tsemu-nbd-psk-');
  psk = join(dir, 'psk');
  mkdirSync(psk);
  keyOf.alice = randomBytes(32).toString('hex');
  keyOf.bob = randomBytes(16).toString('hex');
  writeFileSync(join(psk, 'keys.psk'), `alice:${keyOf.alice}\nbob:${keyOf.bob}\n`);
  image = join(dir, 'd.raw');
  expect((await run('qemu-img', ['create', '-f', 'raw', image, '4M'])).code).toBe(0);
  expect((await run('qemu-io', ['-f', 'raw', '-c', 'write -P 0x3c 0 1M', image])).code).toBe(0);
  const args = ['--object', serverObject(psk), '--tls-creds', 'tls0', '-f', 'raw', '-t', '-e', '4'];
  tsemu = await serveTsemu(join(dir, 't.sock'), [...args, image]);
  // The real server exports a copy, so the two never share a file.
  const copy = join(dir, 'q.raw');
  writeFileSync(copy, readFileSync(image));
  qemu = await serveQemu(join(dir, 'q.sock'), [...args, '-r', copy]);
});

afterAll(async () => {
  await tsemu?.stop();
  await qemu?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('tsemu-nbd with tls-creds-psk', () => {
  it('nbdinfo connects as alice over TLS', async () => {
    const r = await run('nbdinfo', ['--json', pskUri(tsemu.socket, 'alice', join(psk, 'keys.psk'))]);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ TLS: true, exports: [{ 'export-size': 4 << 20 }] });
  });

  it('nbdcopy reads the export and writes it back', async () => {
    const out = join(dir, 'copy.raw');
    const r = await run('nbdcopy', [pskUri(tsemu.socket, 'bob', join(psk, 'keys.psk')), out]);
    expect(r.code, r.stderr).toBe(0);
    expect(sha(out)).toBe(sha(image));
    const src = join(dir, 'src.raw');
    writeFileSync(src, randomBytes(4 << 20));
    const w = await run('nbdcopy', ['--flush', src, pskUri(tsemu.socket, 'alice', join(psk, 'keys.psk'))]);
    expect(w.code, w.stderr).toBe(0);
    expect(sha(image)).toBe(sha(src));
  });

  it('qemu-io and qemu-img 7.2 use it through --image-opts tls-creds', async () => {
    const obj = `tls-creds-psk,id=c0,endpoint=client,dir=${psk},username=bob`;
    const opts = `driver=nbd,server.type=unix,server.path=${tsemu.socket},tls-creds=c0`;
    const io = await run('qemu-io', ['--object', obj, '--image-opts', '-c', 'write -P 0xa5 64k 64k', '-c', 'read -P 0xa5 64k 64k', opts]);
    expect(io.stderr).toBe('');
    expect(io.stdout).toContain('read 65536/65536 bytes at offset 65536');
    const info = await run('qemu-img', ['info', '--output=json', '--object', obj, '--image-opts', opts]);
    expect(info.code, info.stderr).toBe(0);
    expect(JSON.parse(info.stdout)['virtual-size']).toBe(4 << 20);
  });

  it('a plaintext client is refused as by qemu-nbd (same nbdinfo output)', async () => {
    const [ours, real] = await Promise.all([tsemu, qemu].map((s) => run('nbdinfo', [`nbd+unix:///?socket=${s.socket}`])));
    expect(real!.code).toBe(1);
    expect(ours).toEqual(real);
  });

  it('an unknown user and a wrong key fail the handshake, and both servers print the same line', async () => {
    const carol = join(dir, 'carol.psk');
    writeFileSync(carol, `carol:${randomBytes(32).toString('hex')}\n`);
    const wrong = join(dir, 'wrong.psk');
    writeFileSync(wrong, `alice:${randomBytes(32).toString('hex')}\n`);
    const seen: string[][] = [];
    for (const s of [tsemu, qemu]) {
      const before = s.stderr() === '' ? 0 : s.stderr().split('\n').length;
      expect((await run('nbdinfo', ['--size', pskUri(s.socket, 'carol', carol)])).code).not.toBe(0);
      expect((await run('nbdinfo', ['--size', pskUri(s.socket, 'alice', wrong)])).code).not.toBe(0);
      seen.push((await s.linesAtLeast(before + 2)).slice(before));
    }
    expect(seen[0]).toEqual(seen[1]);
    expect(seen[0]![0]).toBe('qemu-nbd: option negotiation failed: TLS handshake failed: An illegal parameter has been received.');
    // The server carries on.
    const r = await run('nbdinfo', ['--size', pskUri(tsemu.socket, 'alice', join(psk, 'keys.psk'))]);
    expect(r.stdout.trim()).toBe(String(4 << 20));
  });

  it("tsemu-nbd -L (the tsemu client) lists the real qemu-nbd's export exactly as qemu-nbd -L does", async () => {
    const args = ['-L', '--object', `tls-creds-psk,id=c,endpoint=client,dir=${psk},username=alice`, '--tls-creds', 'c', '-k', qemu.socket];
    const real = await run('qemu-nbd', args);
    const ours = await runTsemuNbd(args);
    expect(real.code, real.stderr).toBe(0);
    expect(ours).toEqual(real);
  });

  it('qemu-nbd -L and tsemu-nbd -L list tsemu-nbd alike', async () => {
    const args = ['-L', '--object', `tls-creds-psk,id=c,endpoint=client,dir=${psk},username=bob`, '--tls-creds', 'c', '-k', tsemu.socket];
    const real = await run('qemu-nbd', args);
    expect(real.code, real.stderr).toBe(0);
    expect(real.stdout).toContain('exports available: 1');
    expect(await runTsemuNbd(args)).toEqual(real);
  });
});

describe('bad PSK command lines, compared with qemu-nbd 7.2', () => {
  const cases: [string, (d: string) => string[], (d: string) => void][] = [
    ['server, no keys.psk', (d) => ['--object', serverObject(d), '--tls-creds', 'tls0', '-f', 'raw', 'IMG'], () => {}],
    ['client, no keys.psk', (d) => ['-L', '--object', `tls-creds-psk,id=c,endpoint=client,dir=${d},username=alice`, '--tls-creds', 'c'], () => {}],
    ['client, unknown username', (d) => ['-L', '--object', `tls-creds-psk,id=c,endpoint=client,dir=${d},username=zed`, '--tls-creds', 'c'],
      (d) => writeFileSync(join(d, 'keys.psk'), 'alice:00112233445566778899aabbccddeeff\n')],
    ['client, default username qemu missing', (d) => ['-L', '--object', `tls-creds-psk,id=c,endpoint=client,dir=${d}`, '--tls-creds', 'c'],
      (d) => writeFileSync(join(d, 'keys.psk'), 'alice:00112233445566778899aabbccddeeff\n')],
    ['client, odd-length key', (d) => ['-L', '--object', `tls-creds-psk,id=c,endpoint=client,dir=${d},username=alice`, '--tls-creds', 'c'],
      (d) => writeFileSync(join(d, 'keys.psk'), 'alice:abc\n')],
    ['client, non-hex key', (d) => ['-L', '--object', `tls-creds-psk,id=c,endpoint=client,dir=${d},username=alice`, '--tls-creds', 'c'],
      (d) => writeFileSync(join(d, 'keys.psk'), 'alice:0g112233\n')],
    ['client, CRLF line', (d) => ['-L', '--object', `tls-creds-psk,id=c,endpoint=client,dir=${d},username=alice`, '--tls-creds', 'c'],
      (d) => writeFileSync(join(d, 'keys.psk'), 'alice:00112233445566778899aabbccddeeff\r\n')],
    ['client, key too short (first match wins)', (d) => ['-L', '--object', `tls-creds-psk,id=c,endpoint=client,dir=${d},username=bob`, '--tls-creds', 'c'],
      (d) => writeFileSync(join(d, 'keys.psk'), 'bobby:00112233\nbob\nbob:001122\nbob:00112233445566778899aabbccddeeff\n')],
    ['client, empty key', (d) => ['-L', '--object', `tls-creds-psk,id=c,endpoint=client,dir=${d},username=bob`, '--tls-creds', 'c'],
      (d) => writeFileSync(join(d, 'keys.psk'), 'bob:\n')],
    ['client credentials used to serve', (d) => ['--object', `tls-creds-psk,id=c,endpoint=client,dir=${d},username=alice`, '--tls-creds', 'c', '-f', 'raw', 'IMG'],
      (d) => writeFileSync(join(d, 'keys.psk'), 'alice:00112233445566778899aabbccddeeff\n')],
    ['server credentials used to list', (d) => ['-L', '--object', serverObject(d), '--tls-creds', 'tls0'],
      (d) => writeFileSync(join(d, 'keys.psk'), 'alice:00112233445566778899aabbccddeeff\n')],
    ['username with endpoint=server', (d) => ['--object', `${serverObject(d)},username=alice`, '-f', 'raw', 'IMG'], () => {}],
    ['no dir', () => ['--object', 'tls-creds-psk,id=t,endpoint=server', '-f', 'raw', 'IMG'], () => {}],
    ['no id', (d) => ['--object', `tls-creds-psk,endpoint=server,dir=${d},bogus=1`, '-f', 'raw', 'IMG'], () => {}],
    ['unexpected parameter', (d) => ['--object', `${serverObject(d)},bogus=1`, '-f', 'raw', 'IMG'], () => {}],
    ['bad endpoint', (d) => ['--object', `tls-creds-psk,id=t,endpoint=both,dir=${d}`, '-f', 'raw', 'IMG'], () => {}],
    ['duplicate id', (d) => ['--object', serverObject(d), '--object', serverObject(d), '-f', 'raw', 'IMG'],
      (d) => writeFileSync(join(d, 'keys.psk'), 'alice:00112233445566778899aabbccddeeff\n')],
  ];
  it.each(cases)('%s', async (_name, argv, prepare) => {
    const d = join(dir, `bad-${Math.random().toString(36).slice(2)}`);
    mkdirSync(d);
    prepare(d);
    // Nothing ever listens here: every case must fail before serving or connecting.
    const args = argv(d).map((a) => (a === 'IMG' ? image : a)).concat(argv(d).includes('-L') ? ['-k', join(d, 'none.sock')] : ['-k', join(d, 's.sock')]);
    const real = await run('qemu-nbd', args, 10_000);
    const ours = await runTsemuNbd(args);
    expect(real.code).toBe(1);
    expect(real.stderr).toMatch(/^qemu-nbd: [^\n]+\n$/);
    expect(ours).toEqual(real);
  });
});
