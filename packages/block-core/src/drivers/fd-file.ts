// The part of node:fs/promises' FileHandle the file driver uses, over a plain
// descriptor and node:fs's callback API. Why: `fs.promises` is not in Node's
// start-up snapshot; its first use loads and compiles internal/fs/promises
// and the modules it pulls in (readline, watchers, dir: ~1.5-3 ms), which
// every tool run that opens a file paid before its first request.
// Like FileHandle: close() waits for this handle's own requests in flight,
// and `fd` is -1 once closed (later calls fail with EBADF).
import {
  close as fsClose, fdatasync, fstat, ftruncate, open as fsOpen, read as fsRead, readv as fsReadv,
  stat as fsStat, write as fsWrite, writev as fsWritev, type Stats,
} from 'node:fs';

/** fs.stat as a promise (the open path's directory check). */
export function statPath(path: string): Promise<Stats> {
  return new Promise((resolve, reject) => fsStat(path, (err, st) => (err ? reject(err) : resolve(st))));
}

export class FdFile {
  private closing: Promise<void> | undefined;
  private pending = 0;
  private drained: (() => void) | undefined;

  private constructor(private descriptor: number) {}

  static open(path: string, flags: number, mode?: number): Promise<FdFile> {
    return new Promise((resolve, reject) => {
      fsOpen(path, flags, mode ?? 0o666, (err, fd) => (err ? reject(err) : resolve(new FdFile(fd))));
    });
  }

  get fd(): number {
    return this.descriptor;
  }

  /** Runs one callback request on the descriptor, counted for close(). */
  private request<T>(start: (fd: number, done: (err: NodeJS.ErrnoException | null, value: T) => void) => void): Promise<T> {
    this.pending++;
    return new Promise<T>((resolve, reject) => {
      const done = (err: NodeJS.ErrnoException | null, value: T): void => {
        if (--this.pending === 0) this.drained?.();
        if (err) reject(err);
        else resolve(value);
      };
      try {
        start(this.descriptor, done);
      } catch (err) {
        // Argument errors (a closed handle's -1) are thrown synchronously by node:fs.
        done(err as NodeJS.ErrnoException, undefined as T);
      }
    });
  }

  async read(buffer: Uint8Array, offset: number, length: number, position: number): Promise<{ bytesRead: number }> {
    const bytesRead = await this.request<number>((fd, done) => fsRead(fd, buffer, offset, length, position, done));
    return { bytesRead };
  }

  async readv(buffers: readonly Uint8Array[], position: number): Promise<{ bytesRead: number }> {
    const bytesRead = await this.request<number>((fd, done) => fsReadv(fd, buffers as Uint8Array[], position, done));
    return { bytesRead };
  }

  async write(buffer: Uint8Array, offset: number, length: number, position: number): Promise<{ bytesWritten: number }> {
    const bytesWritten = await this.request<number>((fd, done) => fsWrite(fd, buffer, offset, length, position, done));
    return { bytesWritten };
  }

  async writev(buffers: readonly Uint8Array[], position: number): Promise<{ bytesWritten: number }> {
    const bytesWritten = await this.request<number>((fd, done) => fsWritev(fd, buffers as Uint8Array[], position, done));
    return { bytesWritten };
  }

  datasync(): Promise<void> {
    return this.request<void>((fd, done) => fdatasync(fd, (err) => done(err, undefined)));
  }

  truncate(length: number): Promise<void> {
    return this.request<void>((fd, done) => ftruncate(fd, length, (err) => done(err, undefined)));
  }

  stat(): Promise<Stats> {
    return this.request<Stats>((fd, done) => fstat(fd, done));
  }

  /** Closes once this handle's requests have finished; later calls resolve at once. */
  close(): Promise<void> {
    this.closing ??= this.closeWhenDrained();
    return this.closing;
  }

  private async closeWhenDrained(): Promise<void> {
    if (this.pending > 0) await new Promise<void>((resolve) => { this.drained = resolve; });
    const fd = this.descriptor;
    this.descriptor = -1;
    await new Promise<void>((resolve, reject) => fsClose(fd, (err) => (err ? reject(err) : resolve())));
  }
}
