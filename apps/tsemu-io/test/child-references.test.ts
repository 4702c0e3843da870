// A string where QEMU expects a child node (file=, backing=, blkdebug's image=)
// names an existing node, never a file: "Cannot find device=... nor
// node-name=...". `backing: null` opens no backing file; `backing=""` does the
// same after QEMU's deprecation warning; a format without backing files refuses
// backing options. Of several unknown options, QEMU names the first of its QDict
// walk (hash order), not the first typed.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { QEMU_IO, TSEMU_IO, maskTimings, run } from './harness.js';

const dir = mkdtempSync(join(tmpdir(), 'tsemu-io-child-refs-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
beforeAll(() => {
  expect(spawnSync('qemu-img', ['create', '-q', '-f', 'qcow2', join(dir, 'a.qcow2'), '1M']).status).toBe(0);
  expect(spawnSync('qemu-io', ['-c', 'write -P 7 0 64k', join(dir, 'a.qcow2')]).status).toBe(0);
  expect(spawnSync('qemu-img', ['create', '-q', '-f', 'qcow2', '-b', 'a.qcow2', '-F', 'qcow2', join(dir, 'b.qcow2')]).status).toBe(0);
  expect(spawnSync('qemu-img', ['create', '-q', '-f', 'raw', join(dir, 'r.raw'), '1M']).status).toBe(0);
});

const B = 'driver=qcow2,file.filename=b.qcow2';
const BJSON = '"driver":"qcow2","file":{"driver":"file","filename":"b.qcow2"}';

function same(args: string[]): { stdout: string; stderr: string } {
  const q = run(QEMU_IO, args, dir);
  const t = run(TSEMU_IO, args, dir);
  expect(t.stderr).toBe(q.stderr);
  expect(maskTimings(t.stdout)).toBe(maskTimings(q.stdout));
  expect(t.code).toBe(q.code);
  return t;
}

describe('--image-opts child references, as qemu-io', () => {
  it.each([
    [`${B},backing=a.qcow2`, "Could not open backing file: Cannot find device='a.qcow2' nor node-name='a.qcow2'"],
    [`${B},backing=null`, "Cannot find device='null'"],
    ['driver=qcow2,file=b.qcow2', "Cannot find device='b.qcow2' nor node-name='b.qcow2'"],
    ['file=a.qcow2', "Cannot find device='a.qcow2'"],
    ['driver=blkdebug,image=r.raw', "Cannot find device='r.raw'"],
    ['driver=raw,file.filename=r.raw,backing=foo', "Driver doesn't support backing files"],
    ['driver=raw,file.filename=r.raw,backing.driver=qcow2', "Driver doesn't support backing files"],
    ['driver=qcow2,file.filename=a.qcow2,zz=1,aa=2,mm=3', "does not support the option 'aa'"],
    ['driver=qcow2,file.filename=a.qcow2,foo=1,bar=2', "does not support the option 'bar'"],
  ])('%s: refused', (opts, message) => {
    expect(same(['--image-opts', '-c', 'read 0 1', opts]).stderr).toContain(message);
  });

  it.each([[`${B},backing=`], ['driver=raw,file.filename=r.raw,backing=']])('%s: the deprecation warning, then no backing file', (opts) => {
    const t = same(['--image-opts', '-c', 'read -P 0 0 4k', opts]);
    expect(t.stderr).toBe('qemu-io: warning: Use of "backing": "" is deprecated; use "backing": null instead\n');
    expect(t.stdout).toContain('read 4096/4096 bytes');
  });

  it('backing.* options open the backing node they describe', () => {
    const t = same(['--image-opts', '-c', 'read -P 7 0 4k', `${B},backing.driver=qcow2,backing.file.filename=a.qcow2`]);
    expect(t.stdout).toContain('read 4096/4096 bytes');
  });

  it('blkdebug:: and x-image= name the image file', () => {
    same(['-c', 'read 0 1', '-f', 'raw', 'blkdebug::r.raw']);
    same(['--image-opts', '-c', 'read 0 1', 'driver=blkdebug,x-image=r.raw']);
  });
});

describe('json: child references, as qemu-io', () => {
  it.each([
    [`json:{${BJSON},"backing":null}`, 'read -P 0 0 4k'],
    [`json:{${BJSON},"backing":""}`, 'read -P 0 0 4k'],
    [`json:{${BJSON},"backing":"a.qcow2"}`, 'read 0 1'],
    ['json:{"driver":"qcow2","file":"a.qcow2"}', 'read 0 1'],
    ['json:{"file":"a.qcow2"}', 'read 0 1'],
  ])('%s', (json, cmd) => {
    same(['-c', cmd, json]);
  });
});
