import { HWCAP, S, type ArmCpuState } from '@tsemu/target-arm';
import { AddressSpace, pageAlignUp, PROT_EXEC, PROT_READ, PROT_WRITE } from './address-space.js';
import { ElfError, parseElf, PT_LOAD, PT_PHDR } from './elf.js';
import type { MappedFile } from './mapped-files.js';
import { fillRandom } from './random.js';

/** HWCAP we advertise: VFPv3-D16 with integer divide, no NEON (glibc then picks plain routines). */
export const ARM_HWCAP = HWCAP.SWP | HWCAP.HALF | HWCAP.THUMB | HWCAP.FAST_MULT | HWCAP.VFP | HWCAP.EDSP |
  HWCAP.TLS | HWCAP.VFPv3 | HWCAP.VFPv3D16 | HWCAP.IDIVA | HWCAP.IDIVT;

const AT = {
  NULL: 0, PHDR: 3, PHENT: 4, PHNUM: 5, PAGESZ: 6, BASE: 7, FLAGS: 8, ENTRY: 9, UID: 11, EUID: 12, GID: 13, EGID: 14,
  PLATFORM: 15, HWCAP: 16, CLKTCK: 17, SECURE: 23, RANDOM: 25, HWCAP2: 26, EXECFN: 31,
} as const;

/** Static-pie executables are placed here. */
const PIE_BASE = 0x00400000;
export const STACK_SIZE = 8 << 20;
const KUSER_PAGE = 0xffff0000;

export interface LoadedProgram {
  entry: number;
  sp: number;
  brk: number;
  /** The argument strings on the initial stack: [argStart, argEnd), NUL-terminated one after another. */
  argStart: number;
  argEnd: number;
  /** The auxiliary vector on the initial stack, [auxvStart, auxvEnd) (AT_NULL included): what /proc/self/auxv reads. */
  auxvStart: number;
  auxvEnd: number;
}

export interface LoadOptions {
  path: string;
  /** The host file the program was read from: /proc/self/maps names its segments after it. */
  file?: MappedFile;
  argv: string[];
  env: string[];
  uid: number;
  gid: number;
}

/**
 * Load a static ELF executable and build the initial process stack the way
 * the kernel does: strings at the top, then auxv, envp, argv and argc, with
 * sp 16-byte aligned. Sets pc (and the Thumb bit) and sp in `cpu`.
 */
export function loadElf(file: Uint8Array, as: AddressSpace, cpu: ArmCpuState, opts: LoadOptions): LoadedProgram {
  const img = parseElf(file);
  if (img.interp !== null) throw new ElfError(`dynamically linked executables are not supported yet (interpreter ${img.interp})`);
  const mem = as.mem;
  const bias = img.type === 3 ? PIE_BASE : 0;
  let end = 0, phdr = 0, firstLoad = -1;
  for (const seg of img.segments) {
    if (seg.type === PT_PHDR) phdr = seg.vaddr + bias;
    if (seg.type !== PT_LOAD || seg.memsz === 0) continue;
    const va = seg.vaddr + bias;
    if (!as.fits(va, seg.memsz)) throw new ElfError(`segment at 0x${va.toString(16)} does not fit in guest memory`);
    mem.write(va, file.subarray(seg.offset, seg.offset + seg.filesz));
    mem.fill(va + seg.filesz, seg.memsz - seg.filesz);
    // Protection from p_flags (PF_X 1, PF_W 2, PF_R 4); a page two segments share gets both.
    const prot = (seg.flags & 4 ? PROT_READ : 0) | (seg.flags & 2 ? PROT_WRITE : 0) | (seg.flags & 1 ? PROT_EXEC : 0);
    const pageStart = va & ~0xfff, pageEnd = pageAlignUp(va + seg.memsz);
    for (let a = pageStart; a < pageEnd; a += 0x1000) as.map(a, 0x1000, prot | Math.max(as.protOf(a), 0));
    // The pages holding file bytes show the file (at the segment's offset); the rest of the bss is anonymous.
    if (opts.file !== undefined && seg.filesz > 0) {
      const filePages = (pageAlignUp(va + seg.filesz) - pageStart) >>> 12;
      as.files.set(pageStart >>> 12, filePages, as.files.fileIndex(opts.file), (seg.offset - (va - pageStart)) >>> 12);
    }
    if (firstLoad < 0 && seg.offset === 0) firstLoad = va;
    end = Math.max(end, va + seg.memsz);
    if (!phdr && seg.offset <= img.phoff && img.phoff < seg.offset + seg.filesz) phdr = va + (img.phoff - seg.offset);
  }
  as.brkStart = as.brk = end;
  const entry = img.entry + bias;

  // Stack at the top of guest memory.
  // Stack at the top of guest memory: read+write (not executable, as under
  // qemu-arm 7.2 whatever PT_GNU_STACK says), with a PROT_NONE guard page
  // below it as qemu-arm maps one, so an overflow faults (SEGV_ACCERR).
  const stackTop = mem.size - 0x1000;
  as.map(stackTop - STACK_SIZE, STACK_SIZE, PROT_READ | PROT_WRITE);
  as.map(stackTop - STACK_SIZE - 0x1000, 0x1000, 0);
  // The kernel's user-helper page (get_tls, cmpxchg, barrier): read + exec only.
  mem.protect(KUSER_PAGE >>> 12, KUSER_PAGE >>> 12, PROT_READ | PROT_EXEC);
  let sp = stackTop;
  const dv = mem.dv;
  // As the kernel lays them out: the program's path at the top, below it the
  // environment strings, below those the argument strings, each block in
  // order and contiguous; /proc/self/cmdline is the argument block
  // [argStart, argEnd) of guest memory.
  const pushBlock = (strs: readonly string[]): number[] => {
    const bytes = strs.map((s) => Buffer.from(s + '\0', 'utf8'));
    let total = 0;
    for (const b of bytes) total += b.length;
    sp -= total;
    const ptrs: number[] = [];
    let at = sp;
    for (const b of bytes) { mem.write(at, b); ptrs.push(at); at += b.length; }
    return ptrs;
  };
  const pushString = (str: string): number => pushBlock([str])[0]!;
  const execfn = pushString(opts.path);
  const envPtrs = pushBlock(opts.env);
  const envStart = sp;
  const argvPtrs = pushBlock(opts.argv);
  const argStart = sp, argEnd = envStart;
  const platform = pushString('v7l');
  sp -= 16;
  const random = sp;
  fillRandom(mem.u8, random, 16);
  sp &= ~15;
  const auxv: [number, number][] = [
    [AT.PHDR, phdr], [AT.PHENT, img.phentsize], [AT.PHNUM, img.phnum], [AT.PAGESZ, 4096], [AT.BASE, 0], [AT.FLAGS, 0],
    [AT.ENTRY, entry], [AT.UID, opts.uid], [AT.EUID, opts.uid], [AT.GID, opts.gid], [AT.EGID, opts.gid],
    [AT.HWCAP, ARM_HWCAP], [AT.CLKTCK, 100], [AT.RANDOM, random], [AT.SECURE, 0], [AT.EXECFN, execfn],
    [AT.HWCAP2, 0], [AT.PLATFORM, platform], [AT.NULL, 0],
  ];
  const words = 1 + argvPtrs.length + 1 + envPtrs.length + 1 + auxv.length * 2;
  sp -= words * 4;
  sp &= ~15;
  let p = sp;
  const put = (v: number): void => { dv.setUint32(p, v >>> 0, true); p += 4; };
  put(opts.argv.length);
  for (const a of argvPtrs) put(a);
  put(0);
  for (const e of envPtrs) put(e);
  put(0);
  const auxvStart = p;
  for (const [k, v] of auxv) { put(k); put(v); }

  const r = cpu.regs;
  r[S.SP] = sp;
  r[S.PC] = entry & ~1;
  r[S.THUMB] = entry & 1;
  // The kernel leaves r0 = 0 (no atexit function from a dynamic linker).
  r[0] = 0;
  return { entry, sp, brk: end, argStart, argEnd, auxvStart, auxvEnd: p };
}
