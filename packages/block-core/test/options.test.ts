import { describe, expect, it } from 'vitest';
import { BlockError, childOptions, flattenJson, parseBool, parseJsonFilename } from '@tsemu/block-core';

describe('option dictionaries', () => {
  it('flattens nested json: to dotted keys (booleans on/off, null = empty)', () => {
    expect(parseJsonFilename('json:{"driver":"qcow2","file":{"driver":"file","filename":"a,b.img"},"backing":null,"cache":{"direct":true},"size":512}'))
      .toEqual({ driver: 'qcow2', 'file.driver': 'file', 'file.filename': 'a,b.img', backing: '', 'cache.direct': 'on', size: '512' });
  });

  it('rejects malformed json: and non-objects', () => {
    expect(() => parseJsonFilename('json:{"driver":')).toThrow(BlockError);
    expect(() => parseJsonFilename('json:[1]')).toThrow('Invalid JSON object given');
    expect(() => flattenJson(3)).toThrow(BlockError);
  });

  it('splits child options by role prefix only', () => {
    expect(childOptions({ 'file.filename': 'x', 'file.aio': 'threads', filename: 'y', 'backing.file.filename': 'z', files: '1' }, 'file'))
      .toEqual({ filename: 'x', aio: 'threads' });
    expect(childOptions({ 'backing.file.filename': 'z' }, 'backing')).toEqual({ 'file.filename': 'z' });
  });

  it('reads QEMU booleans', () => {
    expect(parseBool('x', 'on', false)).toBe(true);
    expect(parseBool('x', 'off', true)).toBe(false);
    expect(parseBool('x', undefined, true)).toBe(true);
    expect(() => parseBool('read-zeroes', 'maybe', false)).toThrow("Parameter 'read-zeroes' expects 'on' or 'off'");
  });
});
