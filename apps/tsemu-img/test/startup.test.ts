// The built tool's start-up path (scripts/tsup-app.ts, scripts/bundle-launcher.cjs):
// it runs from the V8 code cache made at build time when V8 accepts it, and
// runs the same, byte for byte, when the cache is missing, damaged or rejected.
// Builds into a temporary directory so apps/tsemu-img/dist (used by benches and
// other runs) is never touched.
import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Script } from 'node:vm';
import { build } from 'tsup';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { appBuildOptions } from '../../../scripts/tsup-app.js';

interface Launcher {
  compileBundle(dir: string): { cache: 'used' | 'rejected' | 'missing' };
}
const launcher = createRequire(import.meta.url)('../../../scripts/bundle-launcher.cjs') as Launcher;
const appDir = fileURLToPath(new URL('..', import.meta.url));

let work: string;
let dist: string;
let image: string;

/** Runs the built tool as `node <dir>/main.js ...`, without the CA-certificate start-up cost. */
function runBuilt(dir: string, args: string[], nodeFlags: string[] = []): { stdout: string; stderr: string; code: number | null } {
  const env = { ...process.env };
  delete env.NODE_EXTRA_CA_CERTS;
  delete env.NODE_OPTIONS;
  const r = spawnSync(process.execPath, [...nodeFlags, join(dir, 'main.js'), ...args], { encoding: 'utf8', env, timeout: 60_000 });
  return { stdout: r.stdout, stderr: r.stderr, code: r.status };
}

/** A copy of the build whose bundle.cache is replaced (undefined: removed). */
function variant(name: string, cache: Buffer | undefined): string {
  const dir = join(work, name);
  cpSync(dist, dir, { recursive: true });
  if (cache === undefined) unlinkSync(join(dir, 'bundle.cache'));
  else writeFileSync(join(dir, 'bundle.cache'), cache);
  return dir;
}

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'tsemu-startup-'));
  dist = join(work, 'dist');
  const train = [['--version'], ['info', '{tmp}/disk.raw']];
  await build({ ...appBuildOptions(appDir, { outDir: dist, train }), config: false, silent: true });
  image = join(work, 'small.qcow2');
  const r = spawnSync('qemu-img', ['create', '-q', '-f', 'qcow2', image, '64M'], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`qemu-img create failed: ${r.stderr}`);
}, 180_000);

afterAll(() => { if (work) rmSync(work, { recursive: true, force: true }); });

describe('built tsemu-img', () => {
  it('ships the bundle, its code cache, the launcher and the main.js entry', () => {
    for (const f of ['bundle.cjs', 'bundle.cache', 'launcher.cjs', 'main.js']) expect(statSync(join(dist, f)).size).toBeGreaterThan(0);
  });

  it('loads host-io\'s addon from next to the bundle (holes of a raw file found by SEEK_DATA, as qemu-img)', () => {
    const raw = join(work, 'sparse.raw');
    writeFileSync(raw, Buffer.alloc(4096, 1));
    spawnSync('truncate', ['-s', '4M', raw]);
    const r = runBuilt(dist, ['map', '--output=json', '-f', 'raw', raw]);
    const q = spawnSync('qemu-img', ['map', '--output=json', '-f', 'raw', raw], { encoding: 'utf8' });
    expect(r).toEqual({ stdout: q.stdout, stderr: q.stderr, code: q.status });
    expect(r.stdout).toContain('"data": false');
  });

  it('the launcher uses the cache made at build time', () => {
    expect(launcher.compileBundle(dist).cache).toBe('used');
  });

  it('prints what qemu-img prints for info, and writes nothing next to itself', () => {
    const before = readdirSync(dist).map((f) => `${f}:${statSync(join(dist, f)).mtimeMs}`).sort();
    const r = runBuilt(dist, ['info', image]);
    const q = spawnSync('qemu-img', ['info', image], { encoding: 'utf8' });
    expect(r).toEqual({ stdout: q.stdout, stderr: q.stderr, code: q.status });
    expect(readdirSync(dist).map((f) => `${f}:${statSync(join(dist, f)).mtimeMs}`).sort()).toEqual(before);
  });

  it('runs the same with a missing, truncated, garbage, stale or foreign cache', () => {
    const cache = readFileSync(join(dist, 'bundle.cache'));
    const id = cache.subarray(0, 16); // the bundle's id heads the file (bundle-launcher.cjs)
    const expected = runBuilt(dist, ['info', image]);
    const cases: [string, Buffer | undefined, string][] = [
      ['missing', undefined, 'missing'],
      ['empty', Buffer.alloc(0), 'stale'],
      ['truncated', cache.subarray(0, cache.length >> 1), 'rejected'],
      ['garbage', Buffer.alloc(cache.length, 0x5a), 'stale'],
      ['garbage-after-id', Buffer.concat([id, Buffer.alloc(cache.length - 16, 0x5a)]), 'rejected'],
      ['other-build', Buffer.concat([Buffer.from('0123456789abcdef'), cache.subarray(16)]), 'stale'],
      // Valid V8 data, but for other source text: V8's source check refuses it.
      ['foreign', Buffer.concat([id, new Script('globalThis.x = 1 + 1;').createCachedData()]), 'rejected'],
    ];
    for (const [name, data, status] of cases) {
      const dir = variant(name, data);
      expect(launcher.compileBundle(dir).cache, name).toBe(status);
      expect(runBuilt(dir, ['info', image]), name).toEqual(expected);
      expect(runBuilt(dir, ['info', join(work, 'absent.qcow2')]), name).toEqual(runBuilt(dist, ['info', join(work, 'absent.qcow2')]));
    }
  });

  it('the bin of the published layout (bin/ + dist/, no src/) runs the cached code', () => {
    // V8 checks only the source's length: a same-length edit of a string in the
    // bundle keeps the cache valid, and the cached bytecode still prints the old
    // text. So the old text proves the cache ran; without the cache the new shows.
    const pkg = join(work, 'pkg');
    cpSync(join(appDir, 'bin'), join(pkg, 'bin'), { recursive: true });
    cpSync(dist, join(pkg, 'dist'), { recursive: true });
    const bundle = join(pkg, 'dist/bundle.cjs');
    const text = readFileSync(bundle, 'utf8');
    expect(text.split('rebuilt in TypeScript').length).toBe(2);
    writeFileSync(bundle, text.replace('rebuilt in TypeScript', 'REBUILT IN TYPESCRIPT'));
    const bin = join(pkg, 'bin/tsemu-img.js');
    const env = { ...process.env };
    delete env.NODE_OPTIONS;
    const cached = spawnSync(process.execPath, [bin, '--version'], { encoding: 'utf8', env });
    expect(cached.stdout).toContain('rebuilt in TypeScript');
    unlinkSync(join(pkg, 'dist/bundle.cache'));
    const compiled = spawnSync(process.execPath, [bin, '--version'], { encoding: 'utf8', env });
    expect(compiled.stdout).toContain('REBUILT IN TYPESCRIPT');
    expect(compiled.stdout.toLowerCase()).toBe(cached.stdout.toLowerCase());
  });

  it('sets its run flags after the cached compile: the young generation grows to its maximum at once', () => {
    // The new space's size once ~2 MB of objects survive, with and without RUN_FLAGS.
    const newSpace = (runFlags: boolean): number => {
      const script = `const l = require(${JSON.stringify(join(appDir, '../../scripts/bundle-launcher.cjs'))});
        if (${runFlags}) l.setRunFlags();
        const keep = []; for (let i = 0; i < 20000; i++) keep.push({ a: i, b: [i] });
        process.stdout.write(String(require('node:v8').getHeapSpaceStatistics().find((s) => s.space_name === 'new_space').space_size));`;
      return Number(spawnSync(process.execPath, ['-e', script], { encoding: 'utf8' }).stdout);
    };
    const plain = newSpace(false), tuned = newSpace(true);
    expect(plain).toBeGreaterThan(0);
    expect(tuned).toBeGreaterThanOrEqual(16 << 20);
    expect(tuned).toBeGreaterThan(plain);
  });

  it('runs the same when V8 rejects the cache (other V8 flags than at build time)', () => {
    // V8 keys its caches on its flags, as on its version: --max-lazy stands in for another Node.
    const probe = spawnSync(process.execPath, ['--max-lazy', '-e', `process.stdout.write(require(${JSON.stringify(join(appDir, '../../scripts/bundle-launcher.cjs'))}).compileBundle(${JSON.stringify(dist)}).cache)`], { encoding: 'utf8' });
    expect(probe.stdout).toBe('rejected');
    expect(runBuilt(dist, ['info', image], ['--max-lazy'])).toEqual(runBuilt(dist, ['info', image]));
  });
});
