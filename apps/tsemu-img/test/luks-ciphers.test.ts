// LUKS volumes with the ciphers node:crypto lacks (Serpent, Twofish,
// CAST-128, and AES-192 in xts), between qemu-img / qemu-io 7.2 and tsemu:
// (a) what qemu-io wrote reads back through tsemu-io, and tsemu's convert to
// raw is qemu-img's very file; (b) volumes tsemu-img makes and tsemu-io
// writes read back in qemu-io, qemu-img compare finds the plain data, and
// qemu-img info shows qemu-img's own layout; (c) qcow2 images encrypted with
// them open in the other tool; (d) the combinations qemu-img refuses are
// refused in its words and status. tsemu-img and tsemu-io run in this
// process (a spawn from source costs a second); one test of each spawns the
// real command. qemu-img spends over a second timing PBKDF2 for every LUKS
// header it makes, so its volumes are made two at a time in the background
// while the tests that need none of them run. Volumes are 256 KiB.
import { execFile } from 'node:child_process';
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main as qemuIoMain } from '../../../packages/qemu-io/src/index.js';
import { PBKDF2_PAUSE_MS, PBKDF2_TIMING_FAILED, PBKDF2_TRIES, run, sha256, SideBySide, TSEMU_IMG, type RunResult } from './harness.js';
import { tsemuImg } from './qcow2-harness.js';

const TSEMU_IO = TSEMU_IMG.replace(/tsemu-img$/, 'tsemu-io');
const SECRET = ['--object', 'secret,id=s0,data=abc'];
const luks = (name: string): string[] => ['--image-opts', `driver=luks,key-secret=s0,file.filename=${name}`];
const qcow2 = (name: string): string[] => ['--image-opts', `driver=qcow2,encrypt.key-secret=s0,file.filename=${name}`];
const WRITES = ['-c', 'write -P 0x5a 0 64k', '-c', 'write -P 0x11 70001 3001'];
const READS = ['-c', 'read -P 0x5a 0 64k', '-c', 'read -P 0x11 70001 3001'];

/** The brief's volumes, made by each tool. */
const BOTH_WAYS: [string, string][] = [];
for (const alg of ['serpent-128', 'serpent-256', 'twofish-128', 'twofish-256']) {
  BOTH_WAYS.push(
    [`${alg}-xts-plain64`, `cipher-alg=${alg},cipher-mode=xts,ivgen-alg=plain64`],
    [`${alg}-cbc-essiv`, `cipher-alg=${alg},cipher-mode=cbc,ivgen-alg=essiv,ivgen-hash-alg=sha256`],
    [`${alg}-cbc-plain`, `cipher-alg=${alg},cipher-mode=cbc,ivgen-alg=plain`],
  );
}
BOTH_WAYS.push(['cast5-128-cbc-plain64', 'cipher-alg=cast5-128,cipher-mode=cbc'], ['aes-192-xts-plain64', 'cipher-alg=aes-192,cipher-mode=xts']);
/** More modes and IV generators, made by tsemu-img only (a qemu-img LUKS header costs a second). */
const TSEMU_MADE: [string, string][] = [
  ...BOTH_WAYS,
  ['serpent-192-xts-essiv-md5', 'cipher-alg=serpent-192,cipher-mode=xts,ivgen-alg=essiv,ivgen-hash-alg=md5,hash-alg=sha1'],
  ['twofish-192-xts-plain', 'cipher-alg=twofish-192,cipher-mode=xts,ivgen-alg=plain,hash-alg=sha512'],
  ['serpent-256-ecb', 'cipher-alg=serpent-256,cipher-mode=ecb'],
  ['twofish-256-ctr-plain64', 'cipher-alg=twofish-256,cipher-mode=ctr'],
  ['cast5-128-cbc-essiv-md5', 'cipher-alg=cast5-128,cipher-mode=cbc,ivgen-alg=essiv,ivgen-hash-alg=md5'],
  ['cast5-128-ecb', 'cipher-alg=cast5-128,cipher-mode=ecb'],
  ['cast5-128-ctr-plain', 'cipher-alg=cast5-128,cipher-mode=ctr,ivgen-alg=plain'],
];
const QCOW2: [string, string][] = [
  ['twofish-256', 'encrypt.cipher-alg=twofish-256'],
  ['serpent-128-cbc-essiv', 'encrypt.cipher-alg=serpent-128,encrypt.cipher-mode=cbc,encrypt.ivgen-alg=essiv'],
];

const SIZE = 256 * 1024;

let w: SideBySide;
/** qemu-img's volumes and qcow2 images, made and written by qemu-img / qemu-io (in the background). */
let qemuMade: Promise<void>;

/** qemu-img without waiting, its PBKDF2 timing failure retried as harness.qemuImgRetried does. */
async function qemuImgAsync(args: string[], cwd: string): Promise<void> {
  for (let i = 0; ; i++) {
    const stderr = await new Promise<string | undefined>((done) => {
      execFile('qemu-img', args, { cwd }, (err, _out, errText) => done(err ? errText : undefined));
    });
    if (stderr === undefined) return;
    if (i >= PBKDF2_TRIES || !PBKDF2_TIMING_FAILED.test(stderr)) throw new Error(`qemu-img ${args.join(' ')} failed: ${stderr}`);
    await new Promise((resume) => setTimeout(resume, PBKDF2_PAUSE_MS));
  }
}

/** Runs `jobs` `width` at a time. */
async function pool(jobs: (() => Promise<void>)[], width: number): Promise<void> {
  const queue = [...jobs];
  await Promise.all(Array.from({ length: width }, async () => {
    for (let job = queue.shift(); job !== undefined; job = queue.shift()) await job();
  }));
}

/** tsemu-io in this process, in `cwd`. */
async function tsemuIo(args: string[], cwd: string): Promise<RunResult> {
  let stdout = '';
  let stderr = '';
  const previous = process.cwd();
  process.chdir(cwd);
  try {
    const code = await qemuIoMain(args, { stdout: { write: (s: string) => (stdout += s) }, stderr: { write: (s: string) => (stderr += s) } });
    return { stdout, stderr, code };
  } finally {
    process.chdir(previous);
  }
}

/** `reads` reads with -P that all found their pattern. */
function readBack(r: RunResult, reads: number): void {
  expect(r.stdout + r.stderr).not.toMatch(/Pattern verification failed|can't open/);
  expect(r.stdout.match(/^read \d+\/\d+ bytes/gm)).toHaveLength(reads);
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
}

/** qemu-img info's JSON without what differs between any two volumes (name, uuid, iteration counts, disk use). */
function layout(dir: string, name: string): unknown {
  const info = JSON.parse(run('qemu-img', ['info', '--output=json', name], dir).stdout) as {
    'actual-size'?: number; 'format-specific': { data: { uuid?: string; 'master-key-iters'?: number; slots: Array<{ iters?: number }> } };
  };
  const data = info['format-specific'].data;
  delete data.uuid;
  delete data['master-key-iters'];
  for (const slot of data.slots) delete slot.iters;
  delete info['actual-size'];
  return info;
}

beforeAll(() => {
  w = new SideBySide();
  const make = (args: string[], image: string) => async (): Promise<void> => {
    await qemuImgAsync(args, w.q);
    const r = run('qemu-io', [...SECRET, '--image-opts', image, ...WRITES], w.q);
    if (r.code !== 0 || r.stderr !== '') throw new Error(`qemu-io ${image}: ${r.stderr}`);
  };
  qemuMade = pool([
    ...BOTH_WAYS.map(([name, o]) => make(['create', '-q', '-f', 'luks', ...SECRET, '-o', `key-secret=s0,iter-time=10,${o}`, `${name}.luks`, `${SIZE}`],
      `driver=luks,key-secret=s0,file.filename=${name}.luks`)),
    ...QCOW2.map(([name, o]) => make(['create', '-q', '-f', 'qcow2', ...SECRET, '-o', `encrypt.format=luks,encrypt.key-secret=s0,encrypt.iter-time=10,${o}`, `${name}.qcow2`, `${SIZE}`],
      `driver=qcow2,encrypt.key-secret=s0,file.filename=${name}.qcow2`)),
  ], 2);
  qemuMade.catch(() => undefined); // reported by the tests that wait for it
  // The plain data the volumes should hold.
  writeFileSync(`${w.t}/plain.raw`, new Uint8Array(SIZE));
  const plain = run('qemu-io', ['-f', 'raw', 'plain.raw', ...WRITES], w.t);
  if (plain.code !== 0) throw new Error(plain.stderr);
});

afterAll(() => w.cleanup());

/** The same command through qemu-img (spawned) and tsemu-img (in this process), each in its own directory. */
async function both(args: string[]): Promise<{ qemu: RunResult; tsemu: RunResult }> {
  return { qemu: run('qemu-img', args, w.q), tsemu: await tsemuImg(args, w.t) };
}

// First what needs none of qemu-img's volumes, while they are being made.

describe('(d) what qemu-img refuses to make', () => {
  it.each([
    ['cipher-alg=des'], ['cipher-alg=3des,cipher-mode=cbc'],
    ['cipher-alg=cast5-128,cipher-mode=xts'], ['cipher-alg=cast5-128,cipher-mode=xts,ivgen-alg=plain'],
    // The ESSIV check comes first: md5 keys cast5-128, then xts is refused; sha256 fits no cast5.
    ['cipher-alg=cast5-128,cipher-mode=xts,ivgen-alg=essiv,ivgen-hash-alg=md5'], ['cipher-alg=cast5-128,cipher-mode=xts,ivgen-alg=essiv'],
    ['cipher-alg=cast5-128,cipher-mode=cbc,ivgen-alg=essiv,ivgen-hash-alg=sha1'],
    ['cipher-alg=serpent-128,ivgen-alg=essiv,ivgen-hash-alg=sha1'], ['cipher-alg=serpent-256,cipher-mode=cbc,ivgen-alg=essiv,ivgen-hash-alg=sha224'],
    ['cipher-alg=twofish-192,ivgen-alg=essiv,ivgen-hash-alg=sha512'], ['cipher-alg=aes-192,cipher-mode=xts,ivgen-alg=essiv,ivgen-hash-alg=sha384'],
  ])('create -f luks -o %s: qemu-img\'s message and status, no file', async (o) => {
    const { qemu, tsemu } = await both(['create', '-f', 'luks', ...SECRET, '-o', `key-secret=s0,iter-time=10,${o}`, 'refused.luks', '1M']);
    expect(tsemu).toEqual(qemu);
    expect(tsemu.code).toBe(1);
    expect(existsSync(`${w.t}/refused.luks`)).toBe(false);
  });

  it.each([
    [['create', '-f', 'qcow2', ...SECRET, '-o', 'encrypt.format=luks,encrypt.key-secret=s0,encrypt.cipher-alg=cast5-128,encrypt.cipher-mode=xts', 'refused.qcow2', '1M']],
    [['create', '-f', 'qcow2', ...SECRET, '-o', 'encrypt.format=luks,encrypt.key-secret=s0,encrypt.cipher-alg=twofish-128,encrypt.ivgen-alg=essiv,encrypt.ivgen-hash-alg=sha1', 'refused.qcow2', '1M']],
    [['measure', '-O', 'luks', ...SECRET, '-o', 'key-secret=s0,cipher-alg=cast5-128,cipher-mode=xts', '--size', '1M']],
    [['measure', '-O', 'qcow2', ...SECRET, '-o', 'encrypt.format=luks,encrypt.key-secret=s0,encrypt.cipher-alg=serpent-192,encrypt.ivgen-alg=essiv,encrypt.ivgen-hash-alg=sha1', '--size', '1M']],
  ])('%j: qemu-img\'s message and status, no file', async (args) => {
    const { qemu, tsemu } = await both(args);
    expect(tsemu).toEqual(qemu);
    expect(tsemu.code).toBe(1);
    expect(existsSync(`${w.t}/refused.qcow2`)).toBe(false);
  });

  it('the tsemu-img command itself (spawned): cast5 in xts', () => {
    const args = ['create', '-f', 'luks', ...SECRET, '-o', 'key-secret=s0,iter-time=10,cipher-alg=cast5-128,cipher-mode=xts', 'refused.luks', '1M'];
    const tsemu = run(TSEMU_IMG, args, w.t);
    expect(tsemu).toEqual(run('qemu-img', args, w.q));
    expect(tsemu.stderr).toBe('qemu-img: refused.luks: Unsupported cipher mode xts\n');
  });
});

describe('(b) volumes tsemu-img made and tsemu-io wrote', () => {
  it.each(TSEMU_MADE)('%s: qemu-io reads them, qemu-img compare finds the plain data', async (name, o) => {
    const file = `${name}.luks`;
    const made = await tsemuImg(['create', '-q', '-f', 'luks', ...SECRET, '-o', `key-secret=s0,iter-time=10,${o}`, file, `${SIZE}`], w.t);
    expect(made).toEqual({ stdout: '', stderr: '', code: 0 });
    // Zeroes first: unwritten sectors of a LUKS payload decipher to noise.
    const wrote = await tsemuIo([...SECRET, ...luks(file), '-c', `write -P 0 0 ${SIZE}`, ...WRITES], w.t);
    expect(wrote.stderr).toBe('');
    expect(wrote.stdout.match(/^wrote \d+\/\d+ bytes/gm)).toHaveLength(3);
    readBack(run('qemu-io', [...SECRET, ...luks(file), ...READS, '-c', 'read -P 0 65536 4465'], w.t), 3);
    const cmp = run('qemu-img', ['compare', ...SECRET, '--image-opts', 'driver=raw,file.filename=plain.raw', `driver=luks,key-secret=s0,file.filename=${file}`], w.t);
    expect(cmp).toEqual({ stdout: 'Images are identical.\n', stderr: '', code: 0 });
    const wrong = run('qemu-io', ['--object', 'secret,id=s0,data=abd', ...luks(file), '-c', 'read 0 512'], w.t);
    expect(wrong.stderr).toMatch(/Invalid password, cannot unlock any keyslot/);
  });
});

describe('(c) qcow2 images with encrypt.format=luks made by tsemu-img', () => {
  it.each(QCOW2)('%s: qemu-io reads what tsemu-io wrote, qemu-img check and compare pass, info as for qemu-img\'s', async (name, o) => {
    const file = `${name}.qcow2`;
    const made = await tsemuImg(['create', '-q', '-f', 'qcow2', ...SECRET, '-o', `encrypt.format=luks,encrypt.key-secret=s0,encrypt.iter-time=10,${o}`, file, `${SIZE}`], w.t);
    expect(made).toEqual({ stdout: '', stderr: '', code: 0 });
    const wrote = await tsemuIo([...SECRET, ...qcow2(file), ...WRITES], w.t);
    expect(wrote.stdout.match(/^wrote \d+\/\d+ bytes/gm)).toHaveLength(2);
    readBack(run('qemu-io', [...SECRET, ...qcow2(file), ...READS], w.t), 2);
    expect(run('qemu-img', ['check', ...SECRET, ...qcow2(file)], w.t).stdout).toMatch(/^No errors were found on the image\.$/m);
    const cmp = run('qemu-img', ['compare', ...SECRET, '--image-opts', 'driver=raw,file.filename=plain.raw', `driver=qcow2,encrypt.key-secret=s0,file.filename=${file}`], w.t);
    expect(cmp).toEqual({ stdout: 'Images are identical.\n', stderr: '', code: 0 });
    // The encrypt entry of qemu-img info as for qemu-img's own image (cipher, mode, IV generator, hash, payload offset).
    await qemuMade;
    const encrypt = (dir: string): Record<string, unknown> => {
      const e = (JSON.parse(run('qemu-img', ['info', '--output=json', file], dir).stdout) as { 'format-specific': { data: { encrypt: Record<string, unknown> } } })['format-specific'].data.encrypt;
      for (const key of ['uuid', 'master-key-iters', 'slots']) delete e[key];
      return e;
    };
    expect(encrypt(w.t)).toEqual(encrypt(w.q));
  });
});

// Then qemu-img's volumes.

describe('(a) volumes qemu-img made and qemu-io wrote', () => {
  it.each(BOTH_WAYS.map(([name]) => name))('%s: read back through tsemu-io; convert to raw is qemu-img\'s file; tsemu-img\'s has its layout', async (name) => {
    await qemuMade;
    readBack(await tsemuIo([...SECRET, ...luks(join(w.q, `${name}.luks`)), ...READS], w.q), 2);
    // The whole payload, also where nothing was written (noise both tools must agree on).
    const qemu = run('qemu-img', ['convert', ...SECRET, ...luks(`${name}.luks`), '-O', 'raw', `${name}.q.raw`], w.q);
    expect(qemu.code).toBe(0);
    const tsemu = await tsemuImg(['convert', ...SECRET, ...luks(join(w.q, `${name}.luks`)), '-O', 'raw', `${name}.t.raw`], w.t);
    expect(tsemu).toEqual({ stdout: '', stderr: '', code: 0 });
    expect(sha256(`${w.t}/${name}.t.raw`)).toBe(sha256(`${w.q}/${name}.q.raw`));
    // The volume of the same name (b) made: qemu-img info shows the same layout.
    expect(layout(w.t, `${name}.luks`)).toEqual(layout(w.q, `${name}.luks`));
    expect(statSync(`${w.t}/${name}.luks`).size).toBe(statSync(`${w.q}/${name}.luks`).size);
  });

  it('the tsemu-io command itself (spawned) reads one', async () => {
    await qemuMade;
    readBack(run(TSEMU_IO, [...SECRET, ...luks('twofish-256-cbc-essiv.luks'), ...READS], w.q), 2);
  });
});

describe('(c) qcow2 images with encrypt.format=luks made by qemu-img', () => {
  it.each(QCOW2.map(([name]) => name))('%s: tsemu-io reads it, tsemu\'s convert to raw is qemu-img\'s', async (name) => {
    await qemuMade;
    readBack(await tsemuIo([...SECRET, ...qcow2(join(w.q, `${name}.qcow2`)), ...READS], w.q), 2);
    run('qemu-img', ['convert', ...SECRET, ...qcow2(`${name}.qcow2`), '-O', 'raw', `${name}.qcow2.q.raw`], w.q);
    const tsemu = await tsemuImg(['convert', ...SECRET, ...qcow2(join(w.q, `${name}.qcow2`)), '-O', 'raw', `${name}.qcow2.t.raw`], w.t);
    expect(tsemu.code).toBe(0);
    expect(sha256(`${w.t}/${name}.qcow2.t.raw`)).toBe(sha256(`${w.q}/${name}.qcow2.q.raw`));
  });
});

describe('(d) headers qemu-img cannot make, refused when opened as qemu-img refuses them', () => {
  /** A copy of qemu-img's volume `from` on both sides, with header bytes at `at` replaced by `text` (NUL-padded to 32). */
  function patched(from: string, as: string, at: number, text: string): void {
    const img = readFileSync(`${w.q}/${from}`);
    img.fill(0, at, at + 32);
    img.write(text, at, 'latin1');
    for (const dir of [w.q, w.t]) writeFileSync(`${dir}/${as}`, img);
  }

  it.each([
    // info (no key) already checks the ESSIV cipher.
    ['essiv-sha1.luks', 'serpent-128-cbc-essiv.luks', 40, 'cbc-essiv:sha1'],
    ['essiv-nohash.luks', 'serpent-128-cbc-essiv.luks', 40, 'cbc-essiv'],
    ['cast5-essiv.luks', 'cast5-128-cbc-plain64.luks', 40, 'cbc-essiv:sha256'],
    // cast5 in xts (a serpent-128 xts volume renamed): info shows it; the key slots can't be tried.
    ['cast5-xts.luks', 'serpent-128-xts-plain64.luks', 8, 'cast5'],
    ['des.luks', 'serpent-128-cbc-plain.luks', 8, 'des'],
  ])('%s: info (human and JSON) and convert as qemu-img', async (name, from, at, text) => {
    await qemuMade;
    patched(from, name, at, text);
    for (const args of [['info', name], ['info', '--output=json', name], ['convert', ...SECRET, ...luks(name), '-O', 'raw', `${name}.raw`]]) {
      const { qemu, tsemu } = await both(args);
      expect(tsemu, args.join(' ')).toEqual(qemu);
    }
  });
});
