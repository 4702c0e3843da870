// Output formatting: info (human, JSON) and map (human columns, JSON lines).
import { describe, expect, it } from 'vitest';
import { formatInfoHuman, type ImageInfo } from '../src/commands/info.js';
import { formatMapJson } from '../src/commands/map.js';
import { prettyJson } from '../src/json.js';

const RAW: ImageInfo = { 'virtual-size': 67108864, filename: 'test.raw', format: 'raw', 'actual-size': 139264, 'dirty-flag': false };

describe('info output', () => {
  it('prints the human form as qemu-img 7.2 does for raw', () => {
    expect(formatInfoHuman(RAW)).toBe('image: test.raw\nfile format: raw\nvirtual size: 64 MiB (67108864 bytes)\ndisk size: 136 KiB\n');
  });

  it('says "unavailable" without a disk size and prints format-specific data', () => {
    const info: ImageInfo = {
      'virtual-size': 16777216, filename: 'nbd://127.0.0.1:10811', format: 'qcow2', 'cluster-size': 65536,
      'format-specific': { type: 'qcow2', data: { compat: '1.1', 'lazy-refcounts': false } },
    };
    expect(formatInfoHuman(info)).toBe(
      'image: nbd://127.0.0.1:10811\nfile format: qcow2\nvirtual size: 16 MiB (16777216 bytes)\ndisk size: unavailable\n' +
        'cluster_size: 65536\nFormat specific information:\n    compat: 1.1\n    lazy refcounts: false\n',
    );
  });

  it('names the backing file and its format after cluster_size', () => {
    const info: ImageInfo = {
      'backing-filename-format': 'qcow2', 'virtual-size': 67108864, filename: 'overlay.qcow2', 'cluster-size': 65536,
      format: 'qcow2', 'actual-size': 331776, 'full-backing-filename': 'test.qcow2', 'backing-filename': 'test.qcow2',
    };
    expect(formatInfoHuman(info)).toBe(
      'image: overlay.qcow2\nfile format: qcow2\nvirtual size: 64 MiB (67108864 bytes)\ndisk size: 324 KiB\n' +
        'cluster_size: 65536\nbacking file: test.qcow2\nbacking file format: qcow2\n',
    );
  });

  it('prints JSON in qemu-img\'s layout and field order', () => {
    expect(prettyJson(RAW)).toBe(
      '{\n    "virtual-size": 67108864,\n    "filename": "test.raw",\n    "format": "raw",\n    "actual-size": 139264,\n    "dirty-flag": false\n}\n',
    );
  });
});

describe('map output', () => {
  it('prints one JSON object per line, with offset only when known', () => {
    const text = formatMapJson([
      { start: 0, length: 65536, depth: 0, present: true, zero: false, data: true, offset: 327680 },
      { start: 65536, length: 16711680, depth: 0, present: false, zero: true, data: false },
    ]);
    expect(text).toBe(
      '[{ "start": 0, "length": 65536, "depth": 0, "present": true, "zero": false, "data": true, "offset": 327680},\n' +
        '{ "start": 65536, "length": 16711680, "depth": 0, "present": false, "zero": true, "data": false}]\n',
    );
  });
});
