// -T/--trace [[enable=]PATTERN][,events=FILE][,file=FILE] of QEMU's tools,
// checked as QEMU 7.2 checks it (QemuOpts, the first bare word is `enable`):
// unknown event names (not patterns) warn and go on, bad keys and unreadable
// files stop, `help` lists the event names. No events are emitted yet.
import { closeSync, openSync, readFileSync } from 'node:fs';
import { TRACE_EVENT_NAMES } from './trace-events.js';

export { TRACE_EVENT_NAMES };

/** `-T help`: the tool prints TRACE_EVENT_NAMES, one a line, and exits 0. */
export class TraceHelpRequested extends Error {}

/**
 * A -T argument that stops the tool (status 1). `prefixed`: the tool prints
 * `<prog>: message`; otherwise the line is complete as it is
 * (`<prog>:FILE: No such file or directory`, QEMU's wording for events=).
 */
export class TraceOptionError extends Error {
  constructor(message: string, readonly prefixed = true) {
    super(message);
  }
}

/** `warn(text, where?)`: the tool prints `<prog>:[where:] warning: text` (text may hold a second line). */
export type TraceWarn = (text: string, where?: string) => void;

let known: Set<string> | undefined;

const errnoText = (code: string | undefined): string =>
  code === 'ENOENT' ? 'No such file or directory' : code === 'EACCES' ? 'Permission denied'
    : code === 'EISDIR' ? 'Is a directory' : code === 'ENOTDIR' ? 'Not a directory' : String(code);

/** One enable line: `-name` disables; a name with `*` is a pattern and never warns. */
function checkEvent(line: string, warn: (text: string) => void): void {
  if (line === 'help') throw new TraceHelpRequested();
  const name = line.startsWith('-') ? line.slice(1) : line;
  if (name === '' || name.includes('*')) return;
  known ??= new Set(TRACE_EVENT_NAMES);
  if (!known.has(name)) warn(`trace event '${name}' does not exist`);
}

/** Parses one -T argument for `program`; returns its file= name if any (the tool opens it later, see openTraceFile). */
export function parseTraceOpt(arg: string, program: string, warn: TraceWarn): string | undefined {
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
      warn(`short-form boolean option '${key}' deprecated\nPlease use ${key.startsWith('no') ? `${key.slice(2)}=off` : `${key}=on`} instead`);
      if (key.startsWith('no')) { key = key.slice(2); value = 'off'; }
    }
    if (key !== 'enable' && key !== 'events' && key !== 'file') throw new TraceOptionError(`Invalid parameter '${key}'`);
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
      throw new TraceOptionError(`${program}:${events}: ${errnoText((err as { code?: string }).code)}`, false);
    }
    text.split('\n').forEach((line, i) => {
      if (line === '' || line.startsWith('#')) return;
      checkEvent(line, (t) => warn(t, `${events}:${i + 1}`));
    });
  }
  return opts.get('file');
}

/** Creates (truncates) the -T file= log as QEMU does; "Error opening logfile" when it cannot. */
export function openTraceFile(path: string): void {
  try {
    closeSync(openSync(path, 'w'));
  } catch (err) {
    throw new TraceOptionError(`Error opening logfile ${path}: ${errnoText((err as { code?: string }).code)}`);
  }
}
