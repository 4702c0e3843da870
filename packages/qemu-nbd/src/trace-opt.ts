// -T/--trace [[enable=]PATTERN][,events=FILE][,file=FILE], checked the way
// qemu-nbd 7.2 checks it: unknown event names (not patterns) warn and go on,
// bad keys stop, `help` lists the event names. No events are emitted yet.
import { closeSync, openSync, readFileSync } from 'node:fs';
import { CliError } from './options-errors.js';
import { TRACE_EVENT_NAMES } from './trace-events.js';

export class TraceHelpRequested extends Error {}

let known: Set<string> | undefined;

/** One enable line: `-name` disables; a name with `*` is a pattern and never warns. */
function checkEvent(line: string, warn: (text: string) => void): void {
  if (line === 'help') throw new TraceHelpRequested();
  const name = line.startsWith('-') ? line.slice(1) : line;
  if (name === '' || name.includes('*')) return;
  known ??= new Set(TRACE_EVENT_NAMES);
  if (!known.has(name)) warn(`trace event '${name}' does not exist`);
}

/**
 * Parses one -T argument; returns the file= name if any (opened later, as qemu-nbd does).
 * `warn(text, where?)` prints `qemu-nbd:[where:] warning: text`.
 */
export function parseTraceOpt(arg: string, warn: (text: string, where?: string) => void): string | undefined {
  const opts = new Map<string, string>();
  // QemuOpts: comma-separated, `,,` escapes a comma, the first bare word is `enable`.
  const parts: string[] = [];
  let cur = '';
  for (let i = 0; i < arg.length; i++) {
    if (arg[i] === ',') {
      if (arg[i + 1] === ',') { cur += ','; i++; continue; }
      parts.push(cur);
      cur = '';
    } else cur += arg[i];
  }
  parts.push(cur);
  parts.forEach((part, i) => {
    const eq = part.indexOf('=');
    if (eq < 0 && i === 0) { opts.set('enable', part); return; }
    let key = eq < 0 ? part : part.slice(0, eq);
    let value = eq < 0 ? 'on' : part.slice(eq + 1);
    if (eq < 0) {
      warn(`short-form boolean option '${key}' deprecated\n\0Please use ${key.startsWith('no') ? `${key.slice(2)}=off` : `${key}=on`} instead`);
      if (key.startsWith('no')) { key = key.slice(2); value = 'off'; }
    }
    if (key !== 'enable' && key !== 'events' && key !== 'file') throw new CliError(`Invalid parameter '${key}'`);
    opts.set(key, value);
  });
  const enable = opts.get('enable');
  if (enable !== undefined) checkEvent(enable, (t) => warn(t));
  const events = opts.get('events');
  if (events !== undefined) {
    let text: string;
    try {
      text = readFileSync(events, 'utf8');
    } catch (err) {
      const code = (err as { code?: string }).code;
      throw new CliError(`\0qemu-nbd:${events}: ${code === 'ENOENT' ? 'No such file or directory' : code === 'EACCES' ? 'Permission denied' : code === 'EISDIR' ? 'Is a directory' : String(code)}`);
    }
    text.split('\n').forEach((raw, i) => {
      const line = raw;
      if (line === '' || line.startsWith('#')) return;
      checkEvent(line, (t) => warn(t, `${events}:${i + 1}`));
    });
  }
  return opts.get('file');
}

/** Creates (truncates) the -T file= log as qemu does; "Error opening logfile" when it cannot. */
export function openTraceFile(path: string): void {
  try {
    closeSync(openSync(path, 'w'));
  } catch (err) {
    const code = (err as { code?: string }).code;
    const why = code === 'ENOENT' ? 'No such file or directory' : code === 'EACCES' ? 'Permission denied'
      : code === 'EISDIR' ? 'Is a directory' : code === 'ENOTDIR' ? 'Not a directory' : String(code);
    throw new CliError(`Error opening logfile ${path}: ${why}`);
  }
}
