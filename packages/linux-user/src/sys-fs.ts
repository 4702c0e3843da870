import * as fs from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { isatty } from 'node:tty';
import { hostProc } from '@tsemu/host-io';
import { E, errnoOf } from './errno.js';
import { realProcesses } from './host-processes.js';
import { ownProcContent, ownProcFile } from './proc-self.js';
import { writeStat64, writeStatx } from './structs.js';
import type { LinuxProcess } from './process.js';

/** Files openContent made in this process (their temporary names). */
let contentFiles = 0;
const AT_FDCWD = -100, AT_SYMLINK_NOFOLLOW = 0x100, AT_EMPTY_PATH = 0x1000, AT_REMOVEDIR = 0x200;

// ARM's O_* values that differ from x86's.
const O = { ACCMODE: 3, CREAT: 0x40, EXCL: 0x80, NOCTTY: 0x100, TRUNC: 0x200, APPEND: 0x400, NONBLOCK: 0x800, DIRECTORY: 0x4000, NOFOLLOW: 0x8000, CLOEXEC: 0x80000 };

/**
 * Whether a host fd is a terminal: the addon's isatty(3), else node:tty's
 * (a built app loads node:tty on first use, and node:net with it: ~2.5 ms).
 */
function hostIsatty(fd: number): boolean {
  return hostProc.isatty(fd) ?? isatty(fd);
}

function hostOpenFlags(f: number): number {
  const c = fs.constants;
  let h = f & O.ACCMODE;
  if (f & O.CREAT) h |= c.O_CREAT;
  if (f & O.EXCL) h |= c.O_EXCL;
  if (f & O.NOCTTY) h |= c.O_NOCTTY;
  if (f & O.TRUNC) h |= c.O_TRUNC;
  if (f & O.APPEND) h |= c.O_APPEND;
  if (f & O.DIRECTORY) h |= c.O_DIRECTORY;
  if (f & O.NOFOLLOW) h |= c.O_NOFOLLOW;
  return h;
}

/** File and directory system calls, on host file descriptors (guest fd = host fd). */
export class FsCalls {
  /**
   * Guest descriptor table. Node has no dup(2)/dup2(2), so guest fds are our
   * own numbers pointing at shared open files (dup'd fds share one OpenFile
   * and its offset, as in POSIX); the host fd is only closed with the last one.
   */
  fds = new Map<number, OpenFile>();
  /** Guest descriptors with FD_CLOEXEC (a per-descriptor flag, unlike what OpenFile shares). */
  readonly cloexec = new Set<number>();
  /**
   * With real processes (host-processes.ts) file offsets are the kernel's, so
   * a child and its parent share them as POSIX says; pipes are host pipes.
   * Otherwise offsets are tracked here and pipes are in memory.
   */
  private readonly real = realProcesses;

  constructor(private p: LinuxProcess) {
    for (let i = 0; i <= 2; i++) this.fds.set(i, { host: i, refs: 1, pos: undefined, dir: undefined, path: '' });
  }

  /** Host fd behind a guest fd, or -1. */
  host(fd: number): number {
    return this.fds.get(fd)?.host ?? -1;
  }

  private lowestFree(from = 0): number {
    let fd = from;
    while (this.fds.has(fd)) fd++;
    return fd;
  }

  private str(addr: number): string { return this.p.mem.readCString(addr); }

  /** Resolve a path relative to dirfd; "/proc/self/exe" is the guest program. */
  private resolve(dirfd: number, addr: number): string {
    return this.resolvePath(dirfd, this.str(addr));
  }

  private resolvePath(dirfd: number, s: string): string {
    if (s === '/proc/self/exe') return this.p.exePath;
    if (this.p.sysroot && s.startsWith('/') && fs.existsSync(this.p.sysroot + s)) s = this.p.sysroot + s;
    if (path.isAbsolute(s) || dirfd === AT_FDCWD) return s;
    const d = this.fds.get(dirfd);
    if (d?.path) return path.join(d.path, s);
    return path.join(fs.readlinkSync(`/proc/self/fd/${d?.host ?? dirfd}`), s);
  }

  read(fd: number, buf: number, len: number): number {
    const f = this.fds.get(fd);
    if (!f) return -E.EBADF;
    if (f.dir) return -E.EISDIR;
    if (f.pipe) return this.readPipe(f.pipe, buf, len);
    if (this.real && hostProc.signals && f.pos === undefined) return this.readHost(f, buf, len);
    try {
      const n = fs.readSync(f.host, this.p.mem.u8, buf >>> 0, len >>> 0, f.pos ?? null);
      if (f.pos !== undefined) f.pos += n;
      return n;
    } catch (e) { return f.nonblock ? errnoOf(e) : retryOrErr(e, () => this.read(fd, buf, len)); }
  }

  /**
   * read(2) on the kernel's offset through the addon, so a signal with a guest
   * handler interrupts a read that blocks (pipe, tty): -EINTR, or a restart
   * when the handler has SA_RESTART. EAGAIN on a descriptor the guest did not
   * make non-blocking waits in poll (interruptible the same way).
   */
  private readHost(f: OpenFile, buf: number, len: number): number {
    const u8 = this.p.mem.u8;
    for (;;) {
      const n = hostProc.read(f.host, u8, buf >>> 0, len >>> 0);
      if (n >= 0 || (n !== -E.EINTR && (n !== -E.EAGAIN || f.nonblock))) return n;
      if (n === -E.EAGAIN) {
        this.pollOne[0] = f.host;
        if (hostProc.poll(this.pollOne, -1) !== -E.EINTR) continue;
      }
      this.p.procs.afterSyscall();
      const intr = this.p.signals.interruption();
      if (intr !== 0) return intr;
    }
  }

  /** [fd, POLLIN, revents] for readHost's wait. */
  private readonly pollOne = Int32Array.of(-1, 1, 0);

  write(fd: number, buf: number, len: number): number {
    const f = this.fds.get(fd);
    if (!f) return -E.EBADF;
    if (f.pipe) { f.pipe.chunks.push(Buffer.from(this.p.mem.u8.subarray(buf >>> 0, (buf >>> 0) + (len >>> 0)))); return len >>> 0; }
    try {
      const n = fs.writeSync(f.host, this.p.mem.u8, buf >>> 0, len >>> 0, f.pos);
      if (f.pos !== undefined) f.pos += n;
      return n;
    } catch (e) {
      if ((e as { code?: string }).code === 'EPIPE') this.p.procs.raise(13); // SIGPIPE, after the call returns
      return f.nonblock ? errnoOf(e) : retryOrErr(e, () => this.write(fd, buf, len));
    }
  }

  /** readv / writev over struct iovec { base, len }. */
  vector(fd: number, iov: number, cnt: number, write: boolean): number {
    const dv = this.p.mem.dv;
    let total = 0;
    for (let i = 0; i < cnt; i++) {
      const base = dv.getUint32(iov + i * 8, true), len = dv.getUint32(iov + i * 8 + 4, true);
      if (len === 0) continue;
      const n = write ? this.write(fd, base, len) : this.read(fd, base, len);
      if (n < 0) return total > 0 ? total : n;
      total += n;
      if (n < len) break;
    }
    return total;
  }

  openat(dirfd: number, pathAddr: number, flags: number, mode: number): number {
    try {
      const guestPath = this.str(pathAddr);
      const own = ownProcFile(guestPath, this.p.procs.pid);
      if (own !== undefined) return this.openContent(ownProcContent(this.p, own), flags);
      const p = this.resolvePath(dirfd, guestPath);
      const host = fs.openSync(p, hostOpenFlags(flags), mode);
      const st = fs.fstatSync(host);
      const f: OpenFile = { host, refs: 1, pos: undefined, dir: undefined, path: '' };
      if (st.isDirectory()) { f.dir = { entries: [], pos: -3 }; f.path = p; }
      else if (st.isFile() && !(flags & O.APPEND) && !this.real) f.pos = 0;
      const fd = this.lowestFree();
      this.fds.set(fd, f);
      if (flags & O.CLOEXEC) this.cloexec.add(fd);
      return fd;
    } catch (e) { return errnoOf(e); }
  }

  /**
   * A read-only descriptor holding `bytes`, for a file the emulator answers
   * itself (as qemu-arm does): an unlinked temporary file, so reads, lseek
   * and fstat work as on any file.
   */
  private openContent(bytes: Uint8Array, flags: number): number {
    if ((flags & 3) !== 0) return -E.EACCES; // /proc/self/cmdline, stat and auxv are read-only
    const tmp = path.join(tmpdir(), `tsemu-arm-${process.pid}-${++contentFiles}`);
    const host = fs.openSync(tmp, 'wx+', 0o400);
    try {
      fs.unlinkSync(tmp);
      // Positioned writes: the descriptor's own offset stays at 0 for the guest's reads.
      for (let done = 0; done < bytes.length;) done += fs.writeSync(host, bytes, done, bytes.length - done, done);
    } catch (e) {
      fs.closeSync(host);
      throw e;
    }
    const fd = this.lowestFree();
    this.fds.set(fd, { host, refs: 1, pos: this.real ? undefined : 0, dir: undefined, path: '' });
    if (flags & O.CLOEXEC) this.cloexec.add(fd);
    return fd;
  }

  close(fd: number): number {
    const f = this.fds.get(fd);
    if (!f) return -E.EBADF;
    this.fds.delete(fd);
    this.cloexec.delete(fd);
    // Sequential processes share the emulator's stdio (keep it alive); real ones close it like qemu does.
    if (--f.refs > 0 || f.host < 0 || (f.host <= 2 && !this.real)) return 0;
    try { fs.closeSync(f.host); return 0; } catch (e) { return errnoOf(e); }
  }

  fstat(fd: number, buf: number): number {
    const f = this.fds.get(fd);
    if (!f) return -E.EBADF;
    try { writeStat64(this.p.mem.dv, buf, f.pipe ? PIPE_STAT : fs.fstatSync(f.host)); return 0; } catch (e) { return errnoOf(e); }
  }

  fstatat(dirfd: number, pathAddr: number, buf: number, flags: number): number {
    try {
      if ((flags & AT_EMPTY_PATH) && this.p.mem.u8[pathAddr >>> 0] === 0) return this.fstat(dirfd, buf);
      const p = this.resolve(dirfd, pathAddr);
      writeStat64(this.p.mem.dv, buf, flags & AT_SYMLINK_NOFOLLOW ? fs.lstatSync(p) : fs.statSync(p));
      return 0;
    } catch (e) { return errnoOf(e); }
  }

  statx(dirfd: number, pathAddr: number, flags: number, buf: number): number {
    try {
      let st: fs.Stats;
      if ((flags & AT_EMPTY_PATH) && this.p.mem.u8[pathAddr >>> 0] === 0) {
        const f = this.fds.get(dirfd);
        if (!f) return -E.EBADF;
        st = f.pipe ? PIPE_STAT : fs.fstatSync(f.host);
      }
      else {
        const p = this.resolve(dirfd, pathAddr);
        st = flags & AT_SYMLINK_NOFOLLOW ? fs.lstatSync(p) : fs.statSync(p);
      }
      writeStatx(this.p.mem.dv, buf, st);
      return 0;
    } catch (e) { return errnoOf(e); }
  }

  /** lseek on files we track; other descriptors (pipes, ttys, inherited stdio) answer ESPIPE. */
  seek(fd: number, off: number, whence: number): number {
    const f = this.fds.get(fd);
    if (!f) return -E.EBADF;
    if (f.dir) { if (whence === 0 && off === 0) f.dir.pos = -3; return 0; }
    if (this.real) return hostProc.lseek(f.host, off, whence);
    const cur = f.pos;
    if (cur === undefined) return -E.ESPIPE;
    let n: number;
    try {
      n = whence === 0 ? off : whence === 1 ? cur + off : whence === 2 ? fs.fstatSync(f.host).size + off : -1;
    } catch (e) { return errnoOf(e); }
    if (n < 0 || whence > 2) return -E.EINVAL;
    f.pos = n;
    return n;
  }

  llseek(fd: number, hi: number, lo: number, result: number, whence: number): number {
    const r = this.seek(fd, (hi | 0) * 2 ** 32 + (lo >>> 0), whence);
    if (r < 0) return r;
    this.p.mem.dv.setBigUint64(result >>> 0, BigInt(r), true);
    return 0;
  }

  ioctl(fd: number, req: number, arg: number): number {
    const TCGETS = 0x5401, TIOCGWINSZ = 0x5413, FIONREAD = 0x541b;
    switch (req) {
      case TCGETS: {
        if (!hostIsatty(this.host(fd))) return -E.ENOTTY;
        // A plausible cooked-mode termios.
        const dv = this.p.mem.dv;
        dv.setUint32(arg, 0x500, true); dv.setUint32(arg + 4, 0x5, true); dv.setUint32(arg + 8, 0xbf, true); dv.setUint32(arg + 12, 0x8a3b, true);
        this.p.mem.u8.fill(0, arg + 16, arg + 36);
        return 0;
      }
      case TIOCGWINSZ: {
        if (!hostIsatty(this.host(fd))) return -E.ENOTTY;
        const dv = this.p.mem.dv;
        const cols = process.stdout.columns ?? 80, rows = process.stdout.rows ?? 24;
        dv.setUint16(arg, rows, true); dv.setUint16(arg + 2, cols, true); dv.setUint32(arg + 4, 0, true);
        return 0;
      }
      case FIONREAD: this.p.mem.dv.setUint32(arg, 0, true); return 0;
    }
    return -E.ENOTTY;
  }

  getdents64(fd: number, buf: number, count: number): number {
    const f = this.fds.get(fd);
    if (!f) return -E.EBADF;
    const d = f.dir;
    if (!d) return -E.ENOTDIR;
    if (d.pos === -3) { // not read yet
      d.entries = fs.readdirSync(f.path, { withFileTypes: true });
      d.pos = -2; // "." and ".." first
    }
    const mem = this.p.mem, dv = mem.dv;
    let off = 0, idx = 0;
    const emit = (name: string, type: number): boolean => {
      const nb = Buffer.from(name + '\0', 'utf8');
      const reclen = (19 + nb.length + 7) & ~7;
      if (off + reclen > count) return false;
      const p = buf + off;
      dv.setBigUint64(p, BigInt(++idx), true);
      dv.setBigInt64(p + 8, BigInt(d.pos + 3), true);
      dv.setUint16(p + 16, reclen, true);
      mem.u8[p + 18] = type;
      mem.u8.set(nb, p + 19);
      off += reclen;
      return true;
    };
    while (d.pos < d.entries.length) {
      let ok: boolean;
      if (d.pos < 0) ok = emit(d.pos === -2 ? '.' : '..', 4);
      else {
        const e = d.entries[d.pos]!;
        ok = emit(e.name, e.isDirectory() ? 4 : e.isSymbolicLink() ? 10 : e.isFile() ? 8 : e.isFIFO() ? 1 : e.isSocket() ? 12 : e.isCharacterDevice() ? 2 : e.isBlockDevice() ? 6 : 0);
      }
      if (!ok) return off === 0 ? -E.EINVAL : off;
      d.pos++;
    }
    return off;
  }

  readlinkat(dirfd: number, pathAddr: number, buf: number, size: number): number {
    try {
      const s = this.str(pathAddr);
      const target = s === '/proc/self/exe' ? path.resolve(this.p.exePath) : fs.readlinkSync(this.resolve(dirfd, pathAddr));
      const bytes = Buffer.from(target, 'utf8').subarray(0, size);
      this.p.mem.u8.set(bytes, buf >>> 0);
      return bytes.length;
    } catch (e) { return errnoOf(e); }
  }

  faccessat(dirfd: number, pathAddr: number, mode: number): number {
    try { fs.accessSync(this.resolve(dirfd, pathAddr), mode); return 0; } catch (e) { return errnoOf(e); }
  }

  unlinkat(dirfd: number, pathAddr: number, flags: number): number {
    try {
      const p = this.resolve(dirfd, pathAddr);
      if (flags & AT_REMOVEDIR) fs.rmdirSync(p); else fs.unlinkSync(p);
      return 0;
    } catch (e) { return errnoOf(e); }
  }

  mkdirat(dirfd: number, pathAddr: number, mode: number): number {
    try { fs.mkdirSync(this.resolve(dirfd, pathAddr), { mode }); return 0; } catch (e) { return errnoOf(e); }
  }

  renameat(olddir: number, oldp: number, newdir: number, newp: number): number {
    try { fs.renameSync(this.resolve(olddir, oldp), this.resolve(newdir, newp)); return 0; } catch (e) { return errnoOf(e); }
  }

  chdir(pathAddr: number): number {
    try { process.chdir(this.resolve(AT_FDCWD, pathAddr)); return 0; } catch (e) { return errnoOf(e); }
  }

  getcwd(buf: number, size: number): number {
    const b = Buffer.from(process.cwd() + '\0', 'utf8');
    if (b.length > size) return -E.ERANGE;
    this.p.mem.u8.set(b, buf >>> 0);
    return b.length;
  }

  /** Reading an empty pipe gives end-of-file: its writers have all run already. */
  private readPipe(p: MemPipe, buf: number, len: number): number {
    let n = 0;
    while (n < len && p.chunks.length) {
      const c = p.chunks[0]!;
      const k = Math.min(c.length, len - n);
      this.p.mem.u8.set(c.subarray(0, k), (buf >>> 0) + n);
      n += k;
      if (k === c.length) p.chunks.shift(); else p.chunks[0] = c.subarray(k);
    }
    return n;
  }

  pipe2(fdsAddr: number, flags = 0): number {
    let r: number, w: number;
    if (this.real) {
      const ends = hostProc.pipe2(flags & O.NONBLOCK);
      if (typeof ends === 'number') return ends;
      r = this.lowestFree();
      const nonblock = (flags & O.NONBLOCK) !== 0;
      this.fds.set(r, { host: ends[0], refs: 1, pos: undefined, dir: undefined, path: '', nonblock });
      w = this.lowestFree();
      this.fds.set(w, { host: ends[1], refs: 1, pos: undefined, dir: undefined, path: '', nonblock });
      if (flags & O.CLOEXEC) { this.cloexec.add(r); this.cloexec.add(w); }
    } else {
      const pipe: MemPipe = { chunks: [] };
      r = this.lowestFree();
      this.fds.set(r, { host: -1, pipe, refs: 1, pos: undefined, dir: undefined, path: '' });
      w = this.lowestFree();
      this.fds.set(w, { host: -1, pipe, refs: 1, pos: undefined, dir: undefined, path: '' });
    }
    this.p.mem.dv.setInt32(fdsAddr, r, true);
    this.p.mem.dv.setInt32(fdsAddr + 4, w, true);
    return 0;
  }

  /** poll / ppoll over struct pollfd { int fd; short events, revents; }; with host descriptors the host's poll(2) waits. */
  poll(fdsAddr: number, nfds: number, timeoutMs: number): number {
    const dv = this.p.mem.dv, POLLIN = 1, POLLOUT = 4, POLLNVAL = 0x20;
    if (nfds > 65536) return -E.EINVAL;
    const t = new Int32Array(nfds * 3);
    let bad = 0, mem = 0;
    for (let i = 0; i < nfds; i++) {
      const fd = dv.getInt32(fdsAddr + i * 8, true), f = fd < 0 ? undefined : this.fds.get(fd);
      t[3 * i] = f && f.host >= 0 ? f.host : -1;
      t[3 * i + 1] = dv.getInt16(fdsAddr + i * 8 + 4, true);
      if (fd >= 0 && !f) bad++;
      if (f && f.host < 0) mem++; // an in-memory pipe (sequential processes): always ready
    }
    let r = 0;
    if (this.real && nfds > 0) {
      // A caught signal interrupts the host's poll: -EINTR when its guest handler is to run (never restarted), else poll on.
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        r = hostProc.poll(t, bad || mem ? 0 : timeoutMs < 0 ? -1 : Math.max(0, deadline - Date.now()));
        if (r !== -E.EINTR) break;
        this.p.procs.afterSyscall();
        if (this.p.signals.interruption(false) !== 0) return -E.EINTR;
      }
    }
    if (r < 0) return r;
    let n = 0;
    for (let i = 0; i < nfds; i++) {
      const fd = dv.getInt32(fdsAddr + i * 8, true), f = fd < 0 ? undefined : this.fds.get(fd);
      let rev = 0;
      if (fd >= 0 && !f) rev = POLLNVAL;
      else if (f && (f.host < 0 || !this.real)) rev = t[3 * i + 1]! & (POLLIN | POLLOUT);
      else if (f) rev = t[3 * i + 2]!;
      dv.setInt16(fdsAddr + i * 8 + 6, rev, true);
      if (rev) n++;
    }
    return n;
  }

  /** fork: the child gets its own table sharing the open files. */
  snapshot(): Map<number, OpenFile> {
    for (const f of this.fds.values()) f.refs++;
    return new Map(this.fds);
  }

  /** The child is gone: close what it still held and give the parent its table back. */
  restore(parent: Map<number, OpenFile>): void {
    for (const fd of [...this.fds.keys()]) this.close(fd);
    this.fds = parent;
  }

  /** dup / fcntl(F_DUPFD): the lowest free descriptor >= `from`. */
  dup(fd: number, from = 0, cloexec = false): number {
    const f = this.fds.get(fd);
    if (!f) return -E.EBADF;
    const nfd = this.lowestFree(from);
    f.refs++;
    this.fds.set(nfd, f);
    if (cloexec) this.cloexec.add(nfd);
    return nfd;
  }

  /** dup2 / dup3 (flags: O_CLOEXEC). */
  dup2(fd: number, nfd: number, flags = 0): number {
    const f = this.fds.get(fd);
    if (!f) return -E.EBADF;
    if (nfd < 0 || nfd > 65535) return -E.EBADF;
    if (fd === nfd) return nfd;
    if (this.fds.has(nfd)) this.close(nfd);
    f.refs++;
    this.fds.set(nfd, f);
    if (flags & O.CLOEXEC) this.cloexec.add(nfd);
    return nfd;
  }

  /** F_GETFL from the host, in ARM's numbering (a 64-bit host reports O_LARGEFILE as 0x8000, ARM's is 0x20000). */
  private getfl(fd: number): number {
    const h = hostProc.fcntl(this.host(fd), 3, 0);
    if (h < 0) return h;
    return (h & (O.ACCMODE | O.APPEND | O.NONBLOCK | 0x1000 | 0x2000)) | (h & 0x8000 ? 0x20000 : 0);
  }

  fcntl(fd: number, cmd: number, arg: number): number {
    if (!this.fds.has(fd)) return -E.EBADF;
    switch (cmd) {
      case 0: case 1030: return this.dup(fd, arg, cmd === 1030); // F_DUPFD, F_DUPFD_CLOEXEC
      case 1: return this.cloexec.has(fd) ? 1 : 0; // F_GETFD
      case 2: if (arg & 1) this.cloexec.add(fd); else this.cloexec.delete(fd); return 0; // F_SETFD
      case 3: return this.real ? this.getfl(fd) : 2; // F_GETFL (sequential: O_RDWR, modes not tracked)
      case 4: { // F_SETFL
        if (!this.real) return 0;
        this.fds.get(fd)!.nonblock = (arg & O.NONBLOCK) !== 0;
        return hostProc.fcntl(this.host(fd), 4, arg & (O.APPEND | O.NONBLOCK | 0x2000));
      }
    }
    return -E.EINVAL;
  }
}

const PIPE_STAT = {
  mode: 0o10600, nlink: 1, uid: process.getuid?.() ?? 0, gid: process.getgid?.() ?? 0, ino: 0, size: 0, blocks: 0, blksize: 4096,
  dev: 0, rdev: 0, atimeMs: 0, mtimeMs: 0, ctimeMs: 0, birthtimeMs: 0,
} as unknown as fs.Stats;

/** An in-memory pipe: guest processes here run one after another (see process.ts), so a pipe is a buffer. */
export interface MemPipe { chunks: Buffer[] }

export interface OpenFile {
  /** Host fd, or -1 for a pipe end. */
  host: number;
  pipe?: MemPipe;
  refs: number;
  /** Offset for regular files we opened (Node reads and writes at explicit positions, it has no lseek). */
  pos: number | undefined;
  dir: { entries: fs.Dirent[]; pos: number } | undefined;
  path: string;
  /** The guest asked for O_NONBLOCK: EAGAIN goes back to it (otherwise EAGAIN from a host descriptor Node made non-blocking is waited out). */
  nonblock?: boolean;
}

function retryOrErr(e: unknown, again: () => number): number {
  if ((e as { code?: string }).code === 'EAGAIN') {
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1);
    return again();
  }
  return errnoOf(e);
}
