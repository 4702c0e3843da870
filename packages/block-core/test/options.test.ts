import { describe, expect, it } from 'vitest';
import { BlockError, childOptions, flattenJson, jsonLiteral, JSON_NULL, parseBool, parseJsonFilename } from '@tsemu/block-core';

describe('option dictionaries', () => {
  it('keeps the JSON text of numbers and booleans beside the flat strings, also in a child\'s options', () => {
    const o = parseJsonFilename('json:{"driver":"raw","offset":4096.0,"size":"8192","file":{"driver":"null-co","read-zeroes":true,"size":1e3}}');
    expect(o.offset).toBe('4096');
    expect(jsonLiteral(o, 'offset')).toBe('4096');
    expect(jsonLiteral(o, 'size')).toBeUndefined(); // a JSON string stays a string
    expect(jsonLiteral(o, 'driver')).toBeUndefined();
    const file = childOptions(o, 'file');
    expect(file).toEqual({ driver: 'null-co', 'read-zeroes': 'on', size: '1000' });
    expect(jsonLiteral(file, 'read-zeroes')).toBe('true');
    expect(jsonLiteral(file, 'size')).toBe('1000');
    expect(jsonLiteral(childOptions({ 'file.size': '5' }, 'file'), 'size')).toBeUndefined();
  });

  it('flattens nested json: to dotted keys (booleans on/off, a null backing kept apart from "" and "null")', () => {
    expect(parseJsonFilename('json:{"driver":"qcow2","file":{"driver":"file","filename":"a,b.img"},"backing":null,"cache":{"direct":true},"size":512}'))
      .toEqual({ driver: 'qcow2', 'file.driver': 'file', 'file.filename': 'a,b.img', backing: JSON_NULL, 'cache.direct': 'on', size: '512' });
    expect(parseJsonFilename('json:{"backing":{"backing":null},"x":null}')).toEqual({ 'backing.backing': JSON_NULL, x: '' });
    expect(parseJsonFilename('json:{"backing":"null"}').backing).toBe('null');
    expect(parseJsonFilename('json:{"backing":""}').backing).toBe('');
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
