// Filename syntaxes: QEMU 1.4's sheepdog:[host:port:]vdi[:snapid|:tag],
// the 1.5 URIs, and --image-opts keys.
import { describe, it, expect } from 'vitest';
import { parseSheepdogFilename, locationFromOptions } from '../src/index.js';

const loc = (f: string) => locationFromOptions(parseSheepdogFilename(f));

describe('sheepdog filenames', () => {
  it('parses the QEMU 1.4 forms', () => {
    expect(loc('sheepdog:disk')).toEqual({ address: { host: 'localhost', port: 7000 }, vdi: 'disk', snapId: 0, tag: '' });
    expect(loc('sheepdog:disk:3')).toMatchObject({ vdi: 'disk', snapId: 3, tag: '' });
    expect(loc('sheepdog:disk:before-upgrade')).toMatchObject({ vdi: 'disk', snapId: 0, tag: 'before-upgrade' });
    expect(loc('sheepdog:10.0.0.1:7001:disk')).toMatchObject({ address: { host: '10.0.0.1', port: 7001 }, vdi: 'disk' });
    expect(loc('sheepdog:h:7001:disk:2')).toMatchObject({ address: { host: 'h', port: 7001 }, vdi: 'disk', snapId: 2 });
    // snapid 0 is not an id: QEMU takes it as a tag
    expect(loc('sheepdog:disk:0')).toMatchObject({ snapId: 0, tag: '0' });
  });

  it('parses URIs', () => {
    expect(loc('sheepdog://127.0.0.1:7005/disk')).toEqual({ address: { host: '127.0.0.1', port: 7005 }, vdi: 'disk', snapId: 0, tag: '' });
    expect(loc('sheepdog+tcp://h/disk#4')).toMatchObject({ address: { host: 'h', port: 7000 }, snapId: 4 });
    expect(loc('sheepdog://h/disk#mytag')).toMatchObject({ tag: 'mytag' });
    expect(loc('sheepdog+unix:///disk?socket=/var/lib/sheep/sock')).toEqual({ address: { path: '/var/lib/sheep/sock' }, vdi: 'disk', snapId: 0, tag: '' });
  });

  it('takes --image-opts keys', () => {
    expect(locationFromOptions({ vdi: 'd', 'server.host': 'h', 'server.port': '7009', 'snap-id': '2' }))
      .toEqual({ address: { host: 'h', port: 7009 }, vdi: 'd', snapId: 2, tag: '' });
    expect(locationFromOptions({ vdi: 'd', 'server.type': 'unix', 'server.path': '/s', tag: 't' }))
      .toEqual({ address: { path: '/s' }, vdi: 'd', snapId: 0, tag: 't' });
  });

  it('rejects bad names with EINVAL', () => {
    for (const bad of ['sheepdog://h/', 'sheepdog+unix://h/disk?socket=/s', 'sheepdog+unix:///disk', 'sheepdog://h/d?x=1', 'sheepdog:h:99999:d', `sheepdog:${'x'.repeat(300)}`]) {
      expect(() => loc(bad), bad).toThrow(expect.objectContaining({ code: 'EINVAL' }));
    }
    expect(() => locationFromOptions({ 'server.host': 'h' })).toThrow(/vdi/);
  });
});
