import { readFileSync } from 'node:fs';
import type { LinuxProcess } from './process.js';

/**
 * The /proc files of the guest's own process that the emulator answers
 * itself, as qemu-arm 7.2 does: the host's would describe the emulator (node's
 * command line, its stack, its auxiliary vector). Reached as /proc/self/NAME,
 * /proc/thread-self/NAME (one thread per guest process) or /proc/<own pid>/NAME.
 * (/proc/self/exe is a readlink, resolved in sys-fs.ts; /proc/self/maps is
 * still the host's: linux-user README, Not done yet.)
 */
export type OwnProcFile = 'cmdline' | 'stat' | 'auxv';

const NAMES: readonly OwnProcFile[] = ['cmdline', 'stat', 'auxv'];

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
    case 'stat': return Buffer.from(statLine(p), 'latin1');
  }
}

/**
 * /proc/self/stat as qemu-arm 7.2 writes it: 44 fields, all "0" except the
 * pid, the command name (argv[0] after its last '/', at most 15 bytes, in
 * parentheses), the parent's pid, the start time (clock ticks after boot)
 * and the initial stack pointer; field 3, the state, is "0" too.
 */
function statLine(p: LinuxProcess): string {
  const f = new Array<string>(44).fill('0');
  f[0] = String(p.procs.pid);
  f[1] = `(${p.argv0.slice(p.argv0.lastIndexOf('/') + 1).slice(0, 15)})`;
  f[3] = String(p.procs.ppid());
  f[21] = hostStartTime();
  f[27] = String(p.startStack | 0);
  return f.join(' ') + '\n';
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
