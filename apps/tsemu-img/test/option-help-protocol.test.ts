// "-o help" / "-o ?" with a target filename lists the file protocol's
// options too (file-posix: extent_size_hint, nocow, preallocation, size),
// sorted in with the format's, as qemu-img 7.2 prints them; and amend's
// usage errors without a filename. Side by side with the real qemu-img.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SideBySide } from './harness.js';
import { spawn, tsemuImg } from './qcow2-harness.js';

let w: SideBySide;

beforeAll(() => {
  w = new SideBySide();
});

afterAll(() => w.cleanup());

describe('-o help lists the protocol options', () => {
  it.each([
    [['create', '-f', 'qcow2', '-o', '?', 'new.qcow2']],
    [['create', '-f', 'qcow2', '-o', 'help', 'new.qcow2', '1M']],
    [['create', '-f', 'qcow2', '-o', 'help,cluster_size=4k', 'new.qcow2']],
    [['create', '-f', 'qcow2', '-o', 'help']],
    [['create', '-f', 'raw', '-o', 'help', 'new.raw']],
    [['create', '-f', 'file', '-o', 'help', 'new.img']],
    [['create', '-f', 'file', '-o', 'help']],
    [['create', '-f', 'qcow2', '-o', 'help', 'nbd://127.0.0.1/x']],
    [['create', '-f', 'qcow2', '-o', 'help', '/dev/null']],
    [['convert', '-O', 'qcow2', '-o', 'help']],
    [['convert', '-O', 'qcow2', '-o', 'help', 'a', 'b']],
    [['convert', '-O', 'raw', '-o', '?', 'a', 'b']],
    [['measure', '-O', 'qcow2', '-o', 'help']],
    [['amend', '-f', 'qcow2', '-o', 'help']],
    [['amend', '-o', 'help']],
    [['amend', '-o', 'compat=1.1']],
    [['amend', '-o', 'compat=1.1', 'a', 'b']],
  ])('%j matches qemu-img', async (args) => {
    const qemu = spawn('qemu-img', args, w.q);
    expect(await tsemuImg(args, w.t)).toEqual(qemu);
  });

  it('the file options are really listed', () => {
    const out = spawn('qemu-img', ['create', '-f', 'qcow2', '-o', '?', 'new.qcow2'], w.q).stdout;
    expect(out).toContain('extent_size_hint=<size>');
    expect(out).toContain('nocow=<bool (on/off)>');
  });
});
