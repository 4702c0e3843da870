// --help and --version texts, in qemu-img's layout. Only implemented
// commands and registered formats are listed.
import { listDrivers } from '@tsemu/block-core';
import { COMMANDS } from './commands/index.js';

export const QEMU_COMPAT_VERSION = '7.2.22';
export const TSEMU_VERSION = '0.1.0';

export function versionText(): string {
  return (
    `qemu-img version ${QEMU_COMPAT_VERSION} (tsemu-img ${TSEMU_VERSION})\n` +
    'tsemu: QEMU\'s disk image utility rebuilt in TypeScript\n'
  );
}

/** Every driver registered with block-core (formats, protocols, filters), sorted as qemu-img does. */
export function supportedFormats(): string[] {
  return listDrivers()
    .map((d) => d.name)
    .sort();
}

const PARAMETERS = `Command parameters:
  'filename'         an image file name (or a protocol URL such as nbd://host/export)
  'objectdef'        an object definition: secret or tls-creds-x509 (--object help)
  'fmt'              the image format; probed from the file when not given
  'cache'            cache mode for writing: 'none', 'writeback' (default,
                     except for convert), 'writethrough', 'directsync' or
                     'unsafe' (default for convert)
  'src_cache'        cache mode for reading the input images (same values)
  'size'             a size in bytes; the suffixes k/K, M, G, T, P and E scale it
                     by powers of 1024, 'b' means bytes
  'output_filename'  the image to write
  'output_fmt'       the format of the image to write
  'options'          format options as name=value[,name=value...]; -o help
                     lists what the format accepts
  '-h'               this help, with or without a command
  '-p'               show progress (convert, compare)
  '-q'               quiet: print nothing but errors
  '-S'               convert: zero runs of at least this many bytes (default
                     4k; a multiple of 512) stay unallocated in the target;
                     0 copies everything and fully allocates the target
  '--output'         human (default) or json
  '-n'               convert: write into an existing target instead of
                     creating it

Parameters to bitmap subcommand:
  'bitmap'           the persistent dirty bitmap to work on; the operations
                     run in the order given (--add, --remove, --clear,
                     --enable, --disable, --merge SOURCE)
  '-g'               --add: bytes per bit (a power of 2, at least 512)
  '-b', '-F'         --merge: the image (and its format) that holds SOURCE

Parameters to check subcommand:
  '-r'               repair: 'leaks' or 'all'

Parameters to convert subcommand:
  '-m'               requests in flight at once, 1 to 16 (default 8)
  '-W'               allow writes to land out of order

Parameters to compare subcommand:
  '-f', '-F'         the formats of the first and second image
  '-s'               strict: sizes and allocation must match too
`;

/** qemu-img-cmds.hx's order (alphabetical but for snapshot); other commands sort after by name. */
const QEMU_ORDER = ['amend', 'bench', 'bitmap', 'check', 'commit', 'compare', 'convert', 'create', 'dd', 'info', 'map', 'measure', 'snapshot', 'rebase', 'resize'];

function rank(name: string): number {
  const i = QEMU_ORDER.indexOf(name);
  return i < 0 ? QEMU_ORDER.length : i;
}

export function helpText(): string {
  const syntax = [...COMMANDS.values()]
    .filter((c) => c.syntax !== '')
    .sort((a, b) => rank(a.name) - rank(b.name) || (a.name < b.name ? -1 : 1))
    .map((c) => `  ${c.syntax}\n`)
    .join('');
  return (
    versionText() +
    'usage: qemu-img [standard options] command [command options]\n' +
    'QEMU disk image utility\n\n' +
    "    '-h', '--help'       display this help and exit\n" +
    "    '-V', '--version'    output version information and exit\n" +
    "    '-T', '--trace'      [[enable=]<pattern>][,events=<file>][,file=<file>]\n" +
    '                         specify tracing options (accepted, no trace events yet)\n\n' +
    `Command syntax:\n${syntax}\n` +
    PARAMETERS +
    `\nSupported formats: ${supportedFormats().join(' ')}\n`
  );
}
