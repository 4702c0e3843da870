// The image name qemu-img info shows once the graph is open (QEMU's
// bdrv_refresh_filename): a format over its file shows the file's name; a
// node with an option that changes what it presents (raw's offset and size,
// null-co's size, blkdebug's align) or a format over a format is shown as
// json:{...} with QEMU's key order; null-co:// and blkdebug:config:image are
// drivers' own forms. Whole info output, human and JSON, against qemu-img.
import { writeFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SideBySide } from './harness.js';

let w: SideBySide;

beforeAll(() => {
  w = new SideBySide();
  w.both('qemu-img', ['create', '-q', '-f', 'qcow2', 'base.qcow2', '1M']);
  w.both('qemu-img', ['create', '-q', '-f', 'qcow2', '-b', 'base.qcow2', '-F', 'qcow2', 'top.qcow2']);
  w.both('qemu-img', ['create', '-q', '-f', 'raw', 'img.raw', '1M']);
  for (const dir of [w.q, w.t]) writeFileSync(`${dir}/debug.cfg`, '');
});

afterAll(() => w.cleanup());

const IMAGE_OPTS = [
  'driver=qcow2,file.filename=base.qcow2', 'driver=qcow2,file.filename=base.qcow2,l2-cache-size=1M',
  'driver=raw,file.filename=img.raw,offset=512', 'driver=raw,file.filename=img.raw,size=512',
  'driver=raw,file.filename=img.raw,offset=512,size=1024', 'driver=raw,file.filename=img.raw,file.aio=threads,file.locking=off',
  'driver=null-co', 'driver=null-co,size=1M', 'driver=null-aio', 'driver=null-co,read-zeroes=on', 'driver=null-co,latency-ns=5',
  'driver=raw,file.driver=null-co', 'driver=raw,file.driver=null-co,file.size=1M', 'driver=raw,file.driver=raw,file.file.driver=null-co',
  'driver=blkdebug,image.filename=base.qcow2', 'driver=blkdebug,image.filename=base.qcow2,config=debug.cfg',
  'driver=blkdebug,image.filename=base.qcow2,align=4096', 'driver=blkdebug,image.driver=qcow2,image.file.filename=base.qcow2',
  'driver=qcow2,file.driver=blkdebug,file.image.filename=base.qcow2', 'driver=blkdebug,image.driver=null-co',
  'driver=raw,file.driver=blkdebug,file.image.filename=img.raw,file.align=512',
  'driver=qcow2,file.driver=raw,file.file.filename=base.qcow2',
  'driver=raw,offset=512,file.driver=raw,file.offset=1024,file.file.filename=img.raw',
  'driver=qcow2,file.driver=raw,file.file.filename=top.qcow2',
];

const FILENAMES = [
  'base.qcow2', 'null-co://', 'blkdebug::base.qcow2',
  'json:{"driver":"raw","offset":"512","file":{"driver":"file","filename":"img.raw"}}',
  'json:{"driver":"raw","file.filename":"img.raw","size":"1024"}',
  // Numbers and booleans stay numbers and booleans in the shown name (strings stay strings).
  'json:{"driver":"raw","offset":512,"size":"1024","file":{"driver":"file","filename":"img.raw"}}',
  'json:{"driver":"raw","offset":512.0,"size":1024,"file":{"driver":"file","filename":"img.raw","locking":true}}',
  'json:{"driver":"null-co","size":1048576,"read-zeroes":true}',
  'json:{"driver":"raw","file":{"driver":"null-co","size":1048576,"read-zeroes":false}}',
  'json:{"driver":"qcow2","file":{"driver":"raw","offset":0,"file":{"driver":"file","filename":"base.qcow2"}}}',
];

describe('info: the image name', () => {
  it.each(IMAGE_OPTS)('--image-opts %s', (opts) => {
    for (const out of ['human', 'json']) {
      const { qemu, tsemu } = w.compare(['info', `--output=${out}`, '--image-opts', opts]);
      expect(tsemu).toEqual(qemu);
      expect(tsemu.code).toBe(0);
    }
  });

  it.each(FILENAMES)('%s', (name) => {
    for (const out of ['human', 'json']) {
      const { qemu, tsemu } = w.compare(['info', `--output=${out}`, name]);
      expect(tsemu).toEqual(qemu);
      expect(tsemu.code).toBe(0);
    }
  });

  it('a json: name keeps the backing file relative to the image file (--backing-chain)', () => {
    const opts = `driver=qcow2,file.driver=raw,file.file.filename=${w.q}/top.qcow2`;
    const q = w.qemu(['info', '--backing-chain', '--image-opts', opts]);
    const t = w.tsemu(['info', '--backing-chain', '--image-opts', opts]);
    expect(t).toEqual(q);
    expect(t.stdout).toContain(`backing file: base.qcow2 (actual path: ${w.q}/base.qcow2)`);
  });
});
