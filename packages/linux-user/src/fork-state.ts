import { closeSync, readSync, writeSync } from 'node:fs';
import { PAGE_SIZE } from '@tsemu/tcg';
import type { LinuxProcess } from './process.js';
import type { OpenFile } from './sys-fs.js';
import type { MappedFile } from './mapped-files.js';

/**
 * The hand-over from a forking tsemu-arm to the new one it spawned: registers,
 * VFP, mapped pages (all-zero pages skipped), brk, page permissions, the
 * guest descriptor table (already placed at its numbers by spawn), signal
 * dispositions and mask. Written to a memfd the child finds at the descriptor
 * named by TSEMU_FORK_STATE: [u32 header length][JSON header][VFP][mapped map][perm][pages].
 * "<state fd>:<ready fd>" also names the write end of a pipe the child closes
 * once it runs with its dispositions in place (HostProcesses.kill waits for it).
 */
export const FORK_STATE_ENV = 'TSEMU_FORK_STATE';

interface Header {
  memSize: number;
  regs: number[];
  brk: number;
  brkStart: number;
  fds: { fd: number; slot: number; dir: number | null; path: string; cloexec: boolean; nonblock: boolean }[];
  actions: { handler: number; flags: number; restorer: number; mask: string }[];
  blocked: string;
  /** CLONE_CHILD_SETTID: where the child stores its pid. */
  settid: number;
  exePath: string;
  /** What the parent's loader laid out (LinuxProcess.argStart ... argv0): a forked child shows the same /proc/self/cmdline, auxv and stat. */
  start: { args: [start: number, end: number]; auxv: [start: number, end: number]; sp: number; argv0: string };
  perm: boolean;
  /** [first page, count] runs of non-zero mapped pages, in file order. */
  runs: number[];
  /** The files pages were mapped from (AddressSpace.files): the table and MappedFiles.runs(). */
  files: MappedFile[];
  fileRuns: number[];
}

const permOf = (p: LinuxProcess): Uint8Array | undefined => (p.mem as { perm?: Uint8Array }).perm;

/** Guest descriptor -> child slot: dup'd descriptors share one host descriptor placed at the lowest of their numbers. */
export function forkSlots(fds: Map<number, OpenFile>): { slotOf: Map<OpenFile, number>; pairs: number[] } {
  const slotOf = new Map<OpenFile, number>(), pairs: number[] = [];
  for (const fd of [...fds.keys()].sort((a, b) => a - b)) {
    const f = fds.get(fd)!;
    if (slotOf.has(f) || f.host < 0) continue;
    slotOf.set(f, fd);
    pairs.push(fd, f.host);
  }
  return { slotOf, pairs };
}

function isZeroPage(i32: Int32Array, page: number): boolean {
  const end = (page + 1) * (PAGE_SIZE >> 2);
  for (let i = page * (PAGE_SIZE >> 2); i < end; i++) if (i32[i] !== 0) return false;
  return true;
}

export function writeForkState(p: LinuxProcess, fd: number, slotOf: Map<OpenFile, number>, settid: number): void {
  const mem = p.mem, mapped = p.as.mappedCopy(), perm = permOf(p), sig = p.signals;
  const runs: number[] = [];
  for (let pg = 0; pg < mapped.length; pg++) {
    if (!mapped[pg] || isZeroPage(mem.i32, pg)) continue;
    if (runs.length && runs[runs.length - 2]! + runs[runs.length - 1]! === pg) runs[runs.length - 1]!++;
    else runs.push(pg, 1);
  }
  const fds: Header['fds'] = [];
  for (const [gfd, f] of p.fs.fds) {
    const slot = slotOf.get(f);
    if (slot === undefined) continue;
    fds.push({ fd: gfd, slot, dir: f.dir ? f.dir.pos : null, path: f.path, cloexec: p.fs.cloexec.has(gfd), nonblock: f.nonblock === true });
  }
  const header: Header = {
    memSize: mem.size, regs: Array.from(p.cpu.state.regs), brk: p.as.brk, brkStart: p.as.brkStart, fds,
    actions: sig.actions.map((a) => ({ handler: a.handler, flags: a.flags, restorer: a.restorer, mask: a.mask.toString() })),
    blocked: sig.blocked.toString(), settid, exePath: p.exePath, start: { args: [p.argStart, p.argEnd], auxv: [p.auxvStart, p.auxvEnd], sp: p.startStack, argv0: p.argv0 }, perm: perm !== undefined, runs,
    files: p.as.files.files, fileRuns: p.as.files.runs(),
  };
  const json = Buffer.from(JSON.stringify(header));
  const len = Buffer.alloc(4);
  len.writeUInt32LE(json.length);
  let pos = 0;
  const put = (b: Uint8Array, off = 0, n = b.length - off): void => {
    for (let done = 0; done < n;) done += writeSync(fd, b, off + done, n - done, pos + done);
    pos += n;
  };
  put(len); put(json); put(new Uint8Array(p.cpu.state.vfpBuffer)); put(mapped);
  if (perm) put(perm.map((v) => v & ~16)); // no page holds translated code in the child yet (PERM_CODE)
  for (let i = 0; i < runs.length; i += 2) put(mem.u8, runs[i]! * PAGE_SIZE, runs[i + 1]! * PAGE_SIZE);
}

/** In a freshly spawned child: read the state, if this process is one. Returns false for a normal start. */
export function restoreForkedChild(p: LinuxProcess): boolean {
  const v = process.env[FORK_STATE_ENV];
  if (v === undefined) return false;
  delete process.env[FORK_STATE_ENV];
  const [fd, readyFd] = v.split(':').map(Number) as [number, number | undefined];
  let pos = 0;
  const get = (b: Uint8Array, off = 0, n = b.length - off): void => {
    for (let done = 0; done < n;) {
      const k = readSync(fd, b, off + done, n - done, pos + done);
      if (k <= 0) throw new Error('tsemu-arm: truncated fork state');
      done += k;
    }
    pos += n;
  };
  const len = Buffer.alloc(4);
  get(len);
  const json = Buffer.alloc(len.readUInt32LE(0));
  get(json);
  const h = JSON.parse(json.toString()) as Header;
  const mem = p.mem;
  if (h.memSize !== mem.size) throw new Error(`tsemu-arm: fork state for ${h.memSize} bytes of guest memory, have ${mem.size}`);
  const cpu = p.cpu.state;
  get(new Uint8Array(cpu.vfpBuffer));
  const mapped = new Uint8Array(mem.size / PAGE_SIZE);
  get(mapped);
  p.as.restore([], mapped, h.brk);
  p.as.brkStart = h.brkStart;
  p.as.files.restore(h.files, h.fileRuns);
  const perm = permOf(p);
  if (h.perm) {
    const bytes = new Uint8Array(1 << 20);
    get(bytes);
    perm?.set(bytes);
  }
  for (let i = 0; i < h.runs.length; i += 2) get(mem.u8, h.runs[i]! * PAGE_SIZE, h.runs[i + 1]! * PAGE_SIZE);
  cpu.regs.set(h.regs);
  cpu.regs[0] = 0; // fork returns 0 in the child
  if (h.settid) mem.dv.setInt32(h.settid >>> 0, process.pid, true);
  (p as { exePath: string }).exePath = h.exePath;
  [p.argStart, p.argEnd] = h.start.args;
  [p.auxvStart, p.auxvEnd] = h.start.auxv;
  p.startStack = h.start.sp;
  p.argv0 = h.start.argv0;

  // Descriptors: spawn placed each shared open file at its slot.
  const table = new Map<number, OpenFile>(), bySlot = new Map<number, OpenFile>();
  p.fs.cloexec.clear();
  for (const e of h.fds) {
    let f = bySlot.get(e.slot);
    if (!f) {
      f = { host: e.slot, refs: 0, pos: undefined, dir: e.dir === null ? undefined : { entries: [], pos: -3 }, path: e.path, nonblock: e.nonblock }; // a directory is listed afresh
      bySlot.set(e.slot, f);
    }
    f.refs++;
    table.set(e.fd, f);
    if (e.cloexec) p.fs.cloexec.add(e.fd);
  }
  p.fs.fds = table;
  closeSync(fd);
  const sig = p.signals;
  sig.actions = h.actions.map((a) => ({ handler: a.handler, flags: a.flags, restorer: a.restorer, mask: BigInt(a.mask) }));
  sig.blocked = BigInt(h.blocked);
  if (readyFd !== undefined && readyFd >= 0) p.procs.childStarted?.(readyFd);
  return true;
}
