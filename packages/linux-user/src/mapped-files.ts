import { fstatSync, readlinkSync, realpathSync, statSync } from 'node:fs';

/** A file some guest pages were mapped from, as /proc/self/maps names it. */
export interface MappedFile {
  /** The host's canonical path. */
  path: string;
  dev: number;
  ino: number;
}

/**
 * Which guest pages were mapped from a file (the program's ELF segments, mmap
 * of a file descriptor) and from which page of it: what /proc/self/maps shows
 * beside the protection AddressSpace keeps. Page-sized entries, so unmapping
 * or mprotect of part of a mapping needs no splitting. The contents were
 * copied in at map time (guest memory is one buffer); this is only the name.
 */
export class MappedFiles {
  /** Per page: 0 for anonymous memory, else 1 + an index into `files`. */
  private readonly ids: Int32Array;
  /** Per page: its page number in that file. */
  private readonly filePages: Int32Array;
  readonly files: MappedFile[] = [];

  constructor(pages: number) {
    this.ids = new Int32Array(pages);
    this.filePages = new Int32Array(pages);
  }

  /** The index of `f` in `files` (added the first time). */
  fileIndex(f: MappedFile): number {
    const i = this.files.findIndex((g) => g.path === f.path && g.dev === f.dev && g.ino === f.ino);
    if (i >= 0) return i;
    this.files.push(f);
    return this.files.length - 1;
  }

  /** Pages [first, first + count) come from file `index`, starting at its page `filePage`. */
  set(first: number, count: number, index: number, filePage: number): void {
    for (let k = 0; k < count; k++) { this.ids[first + k] = index + 1; this.filePages[first + k] = filePage + k; }
  }

  /** Pages [first, first + count) are anonymous (mapped afresh, or unmapped). */
  clear(first: number, count: number): void {
    this.ids.fill(0, first, first + count);
  }

  /** mremap moved `count` pages from `from` to `to`. */
  move(from: number, to: number, count: number): void {
    this.ids.copyWithin(to, from, from + count);
    this.filePages.copyWithin(to, from, from + count);
    this.clear(from, count);
  }

  /** The file index of a page (-1: anonymous) and its page number in that file. */
  fileOf(page: number): number { return this.ids[page]! - 1; }
  filePageOf(page: number): number { return this.filePages[page]!; }

  /** [first page, count, file index, first file page] for every run of file pages (a fork hands these over). */
  runs(): number[] {
    const out: number[] = [];
    const ids = this.ids, fp = this.filePages;
    for (let p = 0; p < ids.length; p++) {
      if (ids[p] === 0) continue;
      const n = out.length;
      if (n > 0 && out[n - 4]! + out[n - 3]! === p && out[n - 2] === ids[p]! - 1 && out[n - 1]! + out[n - 3]! === fp[p]) out[n - 3]!++;
      else out.push(p, 1, ids[p]! - 1, fp[p]!);
    }
    return out;
  }

  restore(files: MappedFile[], runs: readonly number[]): void {
    this.files.length = 0;
    this.files.push(...files);
    this.ids.fill(0);
    for (let i = 0; i < runs.length; i += 4) this.set(runs[i]!, runs[i + 1]!, runs[i + 2]!, runs[i + 3]!);
  }
}

/** The host file at `path`, as /proc/self/maps names it. */
export function hostFile(path: string): MappedFile {
  const st = statSync(path);
  return { path: realpathSync(path), dev: st.dev, ino: st.ino };
}

/** The host file open as host descriptor `fd`. */
export function hostFileOfFd(fd: number): MappedFile {
  const st = fstatSync(fd);
  return { path: readlinkSync(`/proc/self/fd/${fd}`), dev: st.dev, ino: st.ino };
}
