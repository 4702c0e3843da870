// QEMU's option syntax (QemuOpts): "a=b,c=d" where ",," stands for a literal
// comma, and a first element without '=' may stand for an implied key
// ("-o help", "--image-opts file.qcow2" is not a thing, but "-drive foo.img" is).
import { BlockError } from '../errors.js';
import type { BlockOptions } from '../driver.js';

/** Reads one comma-terminated token from `pos`, turning ",," into ",". Returns [text, next]. */
function readToken(text: string, pos: number, stopAtEquals: boolean): [string, number] {
  let out = '';
  let i = pos;
  while (i < text.length) {
    const ch = text[i];
    if (ch === ',') {
      if (text[i + 1] === ',') {
        out += ',';
        i += 2;
        continue;
      }
      break;
    }
    if (stopAtEquals && ch === '=') break;
    out += ch;
    i++;
  }
  return [out, i];
}

/**
 * Parses "driver=raw,file.filename=a,,b.img" into {driver: 'raw', 'file.filename': 'a,b.img'}.
 * A bare "key" (no '=') means key=on (reported to `onShortBoolean`: QEMU
 * warns that the short form is deprecated), except the first one when
 * `impliedKey` is given (it becomes impliedKey=token). Duplicate keys: the
 * last one wins, as in QEMU.
 */
export function parseOptionString(text: string, impliedKey?: string, onShortBoolean?: (name: string) => void): BlockOptions {
  const opts: BlockOptions = {};
  let pos = 0;
  let first = true;
  while (pos < text.length) {
    const [name, afterName] = readToken(text, pos, true);
    if (text[afterName] === '=') {
      const [value, afterValue] = readToken(text, afterName + 1, false);
      if (name === '') throw new BlockError('EINVAL', `Invalid parameter ''`);
      opts[name] = value;
      pos = afterValue + 1;
    } else {
      if (first && impliedKey) opts[impliedKey] = name;
      else if (name !== '') {
        onShortBoolean?.(name); // QEMU 7.2 still takes it, with a deprecation warning
        opts[name] = 'on';
      }
      pos = afterName + 1;
    }
    first = false;
  }
  return opts;
}

/** The inverse, escaping commas: used for the "Formatting" line and json: filenames. */
export function formatOptionValue(value: string): string {
  return value.replaceAll(',', ',,');
}
