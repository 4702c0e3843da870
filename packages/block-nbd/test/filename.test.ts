// QEMU's NBD filename syntaxes turned into driver options, and back.
import { describe, expect, it } from 'vitest';
import { addressFromOptions, canonicalNbdFilename, parseNbdFilename } from '../src/index.js';

describe('parseNbdFilename', () => {
  it.each([
    ['nbd://example.org/disk', { 'server.type': 'inet', 'server.host': 'example.org', 'server.port': '10809', export: 'disk' }],
    ['nbd://127.0.0.1:10811', { 'server.type': 'inet', 'server.host': '127.0.0.1', 'server.port': '10811' }],
    ['nbd+tcp://[::1]:99/a%20b', { 'server.type': 'inet', 'server.host': '::1', 'server.port': '99', export: 'a b' }],
    ['nbd+unix:///exp?socket=/tmp/s.sock', { 'server.type': 'unix', 'server.path': '/tmp/s.sock', export: 'exp' }],
    ['nbd+unix://?socket=/tmp/s', { 'server.type': 'unix', 'server.path': '/tmp/s' }],
    ['nbd:127.0.0.1:10811', { 'server.type': 'inet', 'server.host': '127.0.0.1', 'server.port': '10811' }],
    ['nbd:localhost:10809:exportname=x:y', { 'server.type': 'inet', 'server.host': 'localhost', 'server.port': '10809', export: 'x:y' }],
    ['nbd:unix:/run/nbd.sock', { 'server.type': 'unix', 'server.path': '/run/nbd.sock' }],
    ['nbd:unix:/run/nbd.sock:exportname=e', { 'server.type': 'unix', 'server.path': '/run/nbd.sock', export: 'e' }],
  ])('%s', (filename, expected) => {
    expect(parseNbdFilename(filename)).toEqual(expected);
  });

  it.each(['nbd+unix:///x', 'nbd+unix://host/x?socket=/s', 'nbd://h/x?socket=/s', 'nbd:unix:'])('rejects %s', (filename) => {
    expect(() => parseNbdFilename(filename)).toThrow();
  });

  it('validates ports and canonicalises names as QEMU prints them', () => {
    expect(() => addressFromOptions({ 'server.host': 'h', 'server.port': '70000' })).toThrow("Invalid port '70000'");
    expect(canonicalNbdFilename({ type: 'inet', host: '127.0.0.1', port: 10811 }, '')).toBe('nbd://127.0.0.1:10811');
    expect(canonicalNbdFilename({ type: 'unix', path: '/s' }, 'e')).toBe('nbd+unix:///e?socket=/s');
  });
});
