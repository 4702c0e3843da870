// --image-opts checked as QEMU 7.2 checks them when a node opens: the
// generic options (typed values, node-name, discard, detect-zeroes,
// force-share with read-only), file-posix's (aio, locking, pr-manager,
// drop-cache, before the file is opened) and qcow2's runtime options (cache
// sizes and their relations, cache-clean-interval, overlap checks, the
// encryption format). Same output and status as qemu-img info.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SideBySide } from './harness.js';

let w: SideBySide;

beforeAll(() => {
  w = new SideBySide();
  w.both('qemu-img', ['create', '-q', '-f', 'qcow2', '-o', 'cluster_size=4k', 'img.qcow2', '4M']);
  w.both('qemu-img', ['create', '-q', '-f', 'raw', 'img.raw', '4M']);
});

afterAll(() => w.cleanup());

const QCOW2 = [
  'l2-cache-size=abc', 'l2-cache-size=1M,cache-size=512k', 'l2-cache-size=1M,refcount-cache-size=1M,cache-size=1M',
  'refcount-cache-size=2M,cache-size=1M', 'l2-cache-entry-size=100', 'l2-cache-entry-size=8192', 'l2-cache-entry-size=512',
  'cache-clean-interval=-1', 'cache-clean-interval=abc', 'cache-clean-interval=4294967296', 'cache-clean-interval=600',
  'overlap-check=bogus', 'overlap-check.template=bogus', 'overlap-check=none,overlap-check.template=all',
  'overlap-check.main-header=maybe', 'overlap-check=constant', 'encrypt.format=luks', 'pass-discard-other=maybe',
  'discard-no-unref=on',
].map((o) => `driver=qcow2,file.filename=img.qcow2,${o}`);

const RAW = [
  'read-only=maybe,detect-zeroes=bogus', 'force-share=on,read-only=off', 'force-share=maybe', 'auto-read-only=maybe',
  'node-name=1abc', 'node-name=', 'node-name=abcdefghijabcdefghijabcdefghijab', 'node-name=a_b.c-d', 'file.node-name=a:b',
  'discard=bogus', 'detect-zeroes=bogus', 'detect-zeroes=bogus,discard=bogus', 'offset=abc',
  'file.aio=bogus', 'file.aio=Threads', 'file.aio=io_uring', 'file.aio-max-batch=x', 'file.locking=bogus,file.aio=bogus',
  'file.pr-manager=x', 'file.drop-cache=maybe,file.aio=bogus', 'file.drop-cache=off', 'file.discard-no-unref=on',
  'file.filename=missing.raw,file.aio=bogus',
].map((o) => `driver=raw,file.filename=img.raw,${o}`);

describe('--image-opts checks', () => {
  it.each([...QCOW2, ...RAW])('info --image-opts %s: as qemu-img', (opts) => {
    const { qemu, tsemu } = w.compare(['info', '--image-opts', opts]);
    expect(tsemu).toEqual(qemu);
  });
});
