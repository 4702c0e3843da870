// qemu-io's command line: options (GNU getopt_long, processed in order, the
// first bad one ends the program), the usage text and the version banner.
import { createUserObject, UserObjectError } from '@tsemu/block-drivers';
import { TRACE_EVENT_NAMES, TraceHelpRequested, TraceOptionError, openTraceFile, parseTraceOpt } from '@tsemu/block-core';
import { getopt, type LongOption } from './getopt.js';
import {
  defaultSettings, parseAioArg, parseCacheArg, parseDetectZeroesArg, parseDiscardArg, type OpenSettings,
} from './open-settings.js';

export const VERSION = '0.1.0';

/** First line keeps qemu's shape ("qemu-io version 7.2.x") for scripts that parse it. */
export const VERSION_TEXT = `qemu-io version 7.2.0 (tsemu-io ${VERSION})\nCopyright (c) 2026 the tsemu developers; compatible with QEMU 7.2's qemu-io\n`;

export const USAGE_TEXT = `Usage: qemu-io [OPTIONS]... [-c STRING]... [file]
QEMU Disk exerciser

  --object OBJECTDEF   define an object such as 'secret' for
                       passwords and/or encryption keys
  --image-opts         treat file as option string
  -c, --cmd STRING     execute command with its arguments
                       from the given string
  -f, --format FMT     specifies the block driver to use
  -r, --read-only      export read-only
  -s, --snapshot       use snapshot file
  -n, --nocache        disable host cache, short for -t none
  -C, --copy-on-read   enable copy-on-read
  -m, --misalign       misalign allocations for O_DIRECT
  -k, --native-aio     use kernel AIO implementation
                       (Linux only, prefer use of -i)
  -i, --aio=MODE       use AIO mode (threads, native or io_uring)
  -t, --cache=MODE     use the given cache mode for the image
  -d, --discard=MODE   use the given discard mode for the image
  -T, --trace [[enable=]<pattern>][,events=<file>][,file=<file>]
                       specify tracing options
                       see qemu-img(1) man page for full description
  -U, --force-share    force shared permissions
  -h, --help           display this help and exit
  -V, --version        output version information and exit

See 'qemu-io -c help' for information on available commands.

See <https://qemu.org/contribute/report-a-bug> for how to report bugs.
More information on the QEMU project at <https://qemu.org>.
`;

const LONG: LongOption[] = [
  { name: 'help', hasArg: false, key: 'h' },
  { name: 'version', hasArg: false, key: 'V' },
  { name: 'cmd', hasArg: true, key: 'c' },
  { name: 'format', hasArg: true, key: 'f' },
  { name: 'read-only', hasArg: false, key: 'r' },
  { name: 'snapshot', hasArg: false, key: 's' },
  { name: 'nocache', hasArg: false, key: 'n' },
  { name: 'copy-on-read', hasArg: false, key: 'C' },
  { name: 'misalign', hasArg: false, key: 'm' },
  { name: 'native-aio', hasArg: false, key: 'k' },
  { name: 'aio', hasArg: true, key: 'i' },
  { name: 'discard', hasArg: true, key: 'd' },
  { name: 'cache', hasArg: true, key: 't' },
  { name: 'trace', hasArg: true, key: 'T' },
  { name: 'object', hasArg: true, key: 'object' },
  { name: 'image-opts', hasArg: false, key: 'image-opts' },
  { name: 'force-share', hasArg: false, key: 'U' },
  // tsemu extension (qemu-io 7.2 has no such option); full spelling only.
  { name: 'detect-zeroes', hasArg: true, key: 'detect-zeroes', exactOnly: true },
];

/** What the command line asks for: run, or print something and exit. */
export type CommandLine =
  | { kind: 'run'; settings: OpenSettings; commands: string[] }
  | { kind: 'exit'; code: number; stdout?: string; stderr?: string };

/** `stderr(text)` gets -T's warnings as they arise (qemu-io prints them while it parses). */
export function parseCommandLine(argv: string[], stderr: (text: string) => void = () => {}): CommandLine {
  const r = getopt('qemu-io', argv, 'hVc:d:f:rsnCmki:t:T:U', LONG);
  const settings = defaultSettings();
  const commands: string[] = [];
  const die = (message: string): CommandLine => ({ kind: 'exit', code: 1, stderr: `qemu-io: ${message}\n` });
  const traceWarn = (text: string, where?: string): void => stderr(`qemu-io:${where ? `${where}:` : ''} warning: ${text}\n`);
  let traceFile: string | undefined;
  for (const { key, value } of r.options) {
    const v = value!;
    switch (key) {
      case 'h': return { kind: 'exit', code: 0, stdout: USAGE_TEXT };
      case 'V': return { kind: 'exit', code: 0, stdout: VERSION_TEXT };
      case 'c': commands.push(v); break;
      case 'f': settings.format = v; break;
      case 'r': settings.readOnly = true; break;
      case 's': settings.snapshot = true; break;
      case 'n': settings.cache = 'none'; break;
      case 'k': settings.aio = 'native'; break;
      case 'U': settings.forceShare = true; break;
      case 'image-opts': settings.imageOpts = true; break;
      case 'C': settings.copyOnRead = true; break;
      case 'm': break; // accepted, no effect here
      case 'T':
        // Checked as qemu-io does; there are no trace events to emit yet.
        try {
          traceFile = parseTraceOpt(v, 'qemu-io', traceWarn) ?? traceFile;
        } catch (err) {
          if (err instanceof TraceHelpRequested) return { kind: 'exit', code: 0, stdout: `${TRACE_EVENT_NAMES.join('\n')}\n` };
          if (err instanceof TraceOptionError) return err.prefixed ? die(err.message) : { kind: 'exit', code: 1, stderr: `${err.message}\n` };
          throw err;
        }
        break;
      case 'object': {
        // Made on the spot, as qemu-io does: a bad definition ends the run before the image opens.
        let made;
        try {
          made = createUserObject(v);
        } catch (err) {
          if (err instanceof UserObjectError) return die(err.message);
          throw err;
        }
        if (made) return { kind: 'exit', code: 0, stdout: made.help };
        break;
      }
      case 'd': {
        const mode = parseDiscardArg(v);
        if (!mode) return die(`Invalid discard option: ${v}`);
        settings.discard = mode;
        break;
      }
      case 'i': {
        const mode = parseAioArg(v);
        if (!mode) return die(`Invalid aio option: ${v}`);
        settings.aio = mode;
        break;
      }
      case 't': {
        const mode = parseCacheArg(v);
        if (!mode) return die(`Invalid cache option: ${v}`);
        settings.cache = mode;
        break;
      }
      case 'detect-zeroes': {
        const mode = parseDetectZeroesArg(v);
        if (!mode) return die(`Invalid detect-zeroes option: ${v}`);
        settings.detectZeroes = mode;
        break;
      }
    }
  }
  if (!r.ok) return { kind: 'exit', code: 1, stdout: USAGE_TEXT, stderr: `${r.error}\n` };
  if (r.operands.length > 1) return { kind: 'exit', code: 1, stdout: USAGE_TEXT };
  if (traceFile !== undefined) {
    try {
      openTraceFile(traceFile);
    } catch (err) {
      if (err instanceof TraceOptionError) return die(err.message);
      throw err;
    }
  }
  if (settings.format !== undefined && settings.imageOpts) return die('--image-opts and -f are mutually exclusive');
  settings.filename = r.operands[0];
  return { kind: 'run', settings, commands };
}
