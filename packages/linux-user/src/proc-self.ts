import { readFileSync } from 'node:fs';
import type { MappedFile } from './mapped-files.js';
import type { LinuxProcess } from './process.js';

/**
 * The /proc files of the guest's own process that the emulator answers
 * itself, as qemu-arm 7.2 does: the host's would describe the emulator (node's
 * command line, its stack, its auxiliary vector). Reached as /proc/self/NAME,
 * /proc/thread-self/NAME (one thread per guest process) or /proc/<own pid>/NAME.
 * (/proc/self/exe is a readlink, resolved in sys-fs.ts.)
 */
export type OwnProcFile = 'cmdline' | 'stat' | 'auxv' | 'maps';

const NAMES: readonly OwnProcFile[] = ['cmdline', 'stat', 'auxv', 'maps'];

/** Which own /proc file `guestPath` names, or undefined. */
export function ownProcFile(guestPath: string, pid: number): OwnProcFile | undefined {
  const slash = guestPath.lastIndexOf('/');
  const dir = guestPath.slice(0, slash), name = guestPath.slice(slash + 1) as OwnProcFile;
  if (!NAMES.includes(name)) return undefined;
  return dir === '/proc/self' || dir === '/proc/thread-self' || dir === `/proc/${pid}` ? name : undefined;
}

/** The file's bytes, read when it is opened. */
export function ownProcContent(p: LinuxProcess, name: OwnProcFile): Uint8Array {
  const u8 = p.mem.u8;
  switch (name) {
    case 'cmdline': return u8.slice(p.argStart, p.argEnd);
    case 'auxv': return u8.slice(p.auxvStart, p.auxvEnd);
    case 'stat': return statLine(p);
    case 'maps': return Buffer.from(mapsText(p), 'utf8');
  }
}

const PAGE = 4096;
/** The column names start at in /proc/self/maps. */
const NAME_COLUMN = 73;

/**
 * /proc/self/maps as qemu-arm 7.2 writes it: a line per run of guest pages
 * with one protection and one backing (anonymous, or consecutive pages of
 * one file), `start-end rwxp offset dev inode` with the addresses in hex
 * unpadded, the name from column 73 (the host file; `[stack]` for the run
 * holding the initial stack pointer; nothing else for anonymous memory),
 * then the kernel's user-helper page.
 */
function mapsText(p: LinuxProcess): string {
  const as = p.as, files = as.files, n = as.pageCount, stackPage = (p.startStack >>> 0) / PAGE;
  let out = '';
  for (let pg = 0; pg < n;) {
    const prot = as.protOfPage(pg);
    if (prot < 0) { pg++; continue; }
    const fi = files.fileOf(pg), fp = files.filePageOf(pg);
    let end = pg + 1;
    while (end < n && as.protOfPage(end) === prot && files.fileOf(end) === fi && (fi < 0 || files.filePageOf(end) === fp + end - pg)) end++;
    const f = fi >= 0 ? files.files[fi] : undefined;
    out += mapsLine(pg * PAGE, end * PAGE, prot, f, fp * PAGE, f ? f.path : pg <= stackPage && stackPage < end ? '[stack]' : '');
    pg = end;
  }
  return out + mapsLine(0xffff0000, 0xffff1000, 5, undefined, 0, '');
}

function mapsLine(start: number, end: number, prot: number, f: MappedFile | undefined, offset: number, name: string): string {
  const perms = `${prot & 1 ? 'r' : '-'}${prot & 2 ? 'w' : '-'}${prot & 4 ? 'x' : '-'}p`;
  const head = `${start.toString(16)}-${end.toString(16)} ${perms} ${(f ? offset : 0).toString(16).padStart(8, '0')} ${f ? devName(f.dev) : '00:00'} ${f ? f.ino : 0} `;
  return head.padEnd(NAME_COLUMN) + name + '\n';
}

/** A host dev_t as `major:minor` in hex, two digits at least (Linux's encoding of the numbers). */
function devName(dev: number): string {
  const lo = dev >>> 0, hi = Math.floor(dev / 2 ** 32) >>> 0;
  const major = ((lo >>> 8) & 0xfff) | (hi & ~0xfff);
  const minor = (lo & 0xff) | (((lo >>> 12) | (hi << 20)) & ~0xff);
  const hex = (x: number): string => (x >>> 0).toString(16).padStart(2, '0');
  return `${hex(major)}:${hex(minor)}`;
}

/**
 * /proc/self/stat as qemu-arm 7.2 writes it: 44 fields, all "0" except the
 * pid, the command name (argv[0] after its last '/', at most 15 bytes, in
 * parentheses), the parent's pid, the start time (clock ticks after boot)
 * and the initial stack pointer; field 3, the state, is "0" too.
 */
function statLine(p: LinuxProcess): Uint8Array {
  const f = new Array<string>(44).fill('0');
  f[0] = String(p.procs.pid);
  f[3] = String(p.procs.ppid());
  f[21] = hostStartTime();
  f[27] = String(p.startStack | 0);
  // The name is cut in bytes, as qemu-arm's %.15s does.
  const name = Buffer.from(p.argv0.slice(p.argv0.lastIndexOf('/') + 1), 'utf8').subarray(0, 15);
  return Buffer.concat([Buffer.from(`${f[0]} (`), name, Buffer.from(`) ${f.slice(2).join(' ')}\n`)]);
}

let startTime: string | undefined;

/** This (host) process's start time in clock ticks after boot: field 22 of the host's own stat line. */
function hostStartTime(): string {
  if (startTime !== undefined) return startTime;
  try {
    const line = readFileSync('/proc/self/stat', 'latin1');
    // Fields after the command name, which may itself hold spaces and ')'.
    startTime = line.slice(line.lastIndexOf(')') + 2).split(' ')[19] ?? '0';
  } catch {
    startTime = '0';
  }
  return startTime;
}
