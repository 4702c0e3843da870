// Backing options where qemu-img opens without a backing chain (info, rebase
// -u: QEMU's BDRV_O_NO_BACKING): nothing consumes them, so they are unknown
// options ("Block format 'qcow2' does not support the option 'backing.driver'",
// the first of QEMU's QDict walk), except `backing: null` and the deprecated
// `backing=` (which warns). Elsewhere (map, convert) they describe the backing node.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SideBySide } from './harness.js';

let w: SideBySide;

beforeAll(() => {
  w = new SideBySide();
  w.both('qemu-img', ['create', '-q', '-f', 'qcow2', 'a.qcow2', '1M']);
  w.both('qemu-io', ['-c', 'write -P 5 0 64k', 'a.qcow2']);
  w.both('qemu-img', ['create', '-q', '-f', 'qcow2', '-b', 'a.qcow2', '-F', 'qcow2', 'b.qcow2']);
});
afterAll(() => w.cleanup());

const B = 'driver=qcow2,file.filename=b.qcow2';
const CHAIN = `${B},backing.file.filename=a.qcow2,backing.driver=qcow2`;

const CASES: string[][] = [
  ['info', '--image-opts', `${B},backing=a.qcow2`],
  ['info', '--image-opts', `${B},backing=`],
  ['info', '--image-opts', CHAIN],
  ['info', `json:{"driver":"qcow2","file":{"driver":"file","filename":"b.qcow2"},"backing":null}`],
  ['info', `json:{"driver":"qcow2","file":{"driver":"file","filename":"b.qcow2"},"backing":"a.qcow2"}`],
  ['info', '--image-opts', 'driver=qcow2,file.filename=a.qcow2,foo=1,bar=2'],
  ['rebase', '-u', '-b', 'a.qcow2', '-F', 'qcow2', '--image-opts', CHAIN],
  ['map', '--output=json', '--image-opts', CHAIN],
  ['map', '--output=json', '--image-opts', `${B},backing=a.qcow2`],
  ['compare', '--image-opts', CHAIN, 'driver=qcow2,file.filename=a.qcow2'],
];

describe('backing options without a backing chain', () => {
  it.each(CASES.map((c) => [c]))('%j: same output and status as qemu-img', (args) => {
    const { qemu, tsemu } = w.compare(args);
    expect(tsemu).toEqual(qemu);
  });
});
