// qcow2 images with an external data file: tsemu reads no such image's data
// ("external data files are not supported yet"), but `info`, which reads
// only metadata, shows them as qemu-img 7.2 does (data file name and
// data-file-raw, disk size of the qcow2 file alone), also when the data
// file is missing or the header extension naming it is gone.
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run, SideBySide } from './harness.js';

let w: SideBySide;

beforeAll(() => {
  w = new SideBySide();
  w.both('qemu-img', ['create', '-q', '-f', 'qcow2', '-o', 'data_file=data.raw', 'df.qcow2', '1M']);
  w.both('qemu-img', ['create', '-q', '-f', 'qcow2', '-o', 'data_file=raw.raw,data_file_raw=on', 'dfraw.qcow2', '1M']);
  w.both('qemu-img', ['create', '-q', '-f', 'qcow2', '-o', 'data_file=gone.raw', 'missing.qcow2', '1M']);
  for (const dir of [w.q, w.t]) {
    const r = run('qemu-io', ['-c', 'write -P 1 0 512k', 'df.qcow2'], dir);
    if (r.code !== 0) throw new Error(r.stderr);
    renameSync(`${dir}/gone.raw`, `${dir}/gone.raw.away`);
    // The data file bit without the extension that names the file.
    const img = readFileSync(`${dir}/df.qcow2`);
    let at = img.readUInt32BE(100);
    while (img.readUInt32BE(at) !== 0x44415441) at += 8 + ((img.readUInt32BE(at + 4) + 7) & ~7);
    img.writeUInt32BE(0x12345678, at);
    writeFileSync(`${dir}/noext.qcow2`, img);
  }
});

afterAll(() => w.cleanup());

describe('info on images with an external data file', () => {
  it.each(['df.qcow2', 'dfraw.qcow2', 'missing.qcow2', 'noext.qcow2'])('%s: as qemu-img, human and JSON', (name) => {
    for (const out of ['human', 'json']) {
      const { qemu, tsemu } = w.compare(['info', `--output=${out}`, name]);
      expect(tsemu).toEqual(qemu);
      expect(tsemu.stdout).toMatch(out === 'json' ? /"data-file-raw": (true|false)/ : /data file raw: (true|false)/);
    }
  });

  it('create -b over such an image: its size without opening the data, as qemu-img', () => {
    const { qemu, tsemu } = w.compare(['create', '-f', 'qcow2', '-b', 'missing.qcow2', '-F', 'qcow2', 'over.qcow2']);
    expect(tsemu).toEqual(qemu);
    expect(tsemu.code).toBe(0);
  });

  it('commands that read data still refuse the image in one line', () => {
    const r = w.tsemu(['map', 'df.qcow2']);
    expect(r).toEqual({ stdout: '', stderr: "qemu-img: Could not open 'df.qcow2': qcow2: external data files are not supported yet\n", code: 1 });
  });
});
