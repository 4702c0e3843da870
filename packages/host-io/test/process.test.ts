import { spawnSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, readSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, test } from 'vitest';
import { childSignals, hostProc } from '@tsemu/host-io';

// The process calls behind tsemu-arm's guest fork / pipe / waitpid (native/proc.c).
const status = new Int32Array(1);

function readAll(fd: number): string {
  const buf = Buffer.alloc(4096);
  let out = '';
  for (let n; (n = readSync(fd, buf, 0, buf.length, null)) > 0;) out += buf.toString('utf8', 0, n);
  return out;
}

function pipe(): [number, number] {
  const p = hostProc.pipe2(0);
  if (typeof p === 'number') throw new Error(`pipe2: ${p}`);
  return p;
}

describe('host-io process calls', () => {
  test('is built by the workspace install (CI builds it with cc)', () => {
    expect(hostProc.available).toBe(true);
  });

  test('isatty tells a terminal from pipes, files and /dev/null', () => {
    const [r, w] = pipe();
    const file = openSync(fileURLToPath(import.meta.url), 'r'), nul = openSync('/dev/null', 'r');
    for (const fd of [r, w, file, nul]) expect(hostProc.isatty(fd), `fd ${fd}`).toBe(false);
    for (const fd of [r, w, file, nul]) closeSync(fd);
    // A terminal: script(1) runs the child with fds 0-2 on a pseudo-terminal.
    const addon = fileURLToPath(new URL('../build/proc.node', import.meta.url));
    const out = join(mkdtempSync(join(tmpdir(), 'isatty-')), 'out');
    const child = `const p = require(${JSON.stringify(addon)}), fs = require('fs');` +
      `fs.writeFileSync(${JSON.stringify(out)}, [0, 1, 2, fs.openSync('/dev/null', 'r')].map((fd) => p.isatty(fd)).join(''));`;
    const ran = spawnSync('script', ['-qec', `${JSON.stringify(process.execPath)} -e "${child.replace(/["\\$`]/g, '\\$&')}"`, '/dev/null'], { stdio: 'ignore', timeout: 30_000 });
    expect(ran.status).toBe(0);
    expect(readFileSync(out, 'utf8')).toBe('1110');
    rmSync(dirname(out), { recursive: true });
  });

  test('spawn places descriptors at the numbers asked for, and only those', () => {
    const [r, w] = pipe();
    // The child sees the pipe's write end as fd 5 and as its stdout; fd 7 (not placed) is closed.
    const pid = hostProc.spawn('/bin/sh', ['sh', '-c', 'echo to-five >&5; echo to-stdout; echo x >&7 2>/dev/null || echo seven-closed'], ['PATH=/usr/bin:/bin'],
      Int32Array.from([5, w, 1, w]));
    expect(pid).toBeGreaterThan(0);
    closeSync(w); // our copy: the reader sees EOF once the child is gone
    expect(readAll(r)).toBe('to-five\nto-stdout\nseven-closed\n');
    closeSync(r);
    expect(hostProc.waitpid(pid, 0, status)).toBe(pid);
    expect(status[0]).toBe(0);
  });

  test('waitpid reports exit statuses, death by signal, WNOHANG and ECHILD', () => {
    const [r, w] = pipe();
    // Blocks reading the pipe until we close our write end.
    const blocked = hostProc.spawn('/bin/sh', ['sh', '-c', 'read x; exit 3'], [], Int32Array.from([0, r]));
    expect(hostProc.waitpid(blocked, 1 /* WNOHANG */, status)).toBe(0);
    closeSync(w);
    closeSync(r);
    expect(hostProc.waitpid(blocked, 0, status)).toBe(blocked);
    expect(status[0]).toBe(3 << 8);
    const killed = hostProc.spawn('/bin/sh', ['sh', '-c', 'kill -TERM $$'], [], new Int32Array(0));
    expect(hostProc.waitpid(killed, 0, status)).toBe(killed);
    expect(status[0]! & 0x7f).toBe(15);
    expect(hostProc.waitpid(-1, 1, status)).toBe(-10); // ECHILD: nothing left
    expect(hostProc.spawn('/nonexistent/program', ['x'], [], new Int32Array(0))).toBe(-2); // ENOENT
  });

  test('SIGCHLD is counted and wakes waitChildEvent', () => {
    expect(hostProc.watchChildren()).toBe(0);
    const before = childSignals[0]!;
    const pid = hostProc.spawn('/bin/true', ['true'], [], new Int32Array(0));
    expect(hostProc.waitChildEvent(30_000)).toBe(1);
    expect(childSignals[0]).toBeGreaterThan(before);
    expect(hostProc.waitpid(pid, 0, status)).toBe(pid);
  });

  test('lseek, fcntl and memfd work on the kernel objects', () => {
    const fd = hostProc.memfd();
    expect(fd).toBeGreaterThan(2);
    expect(hostProc.fcntl(fd, 1 /* F_GETFD */, 0) & 1).toBe(1); // close-on-exec
    writeSync(fd, 'hello world', null);
    expect(hostProc.lseek(fd, 0, 1 /* SEEK_CUR */)).toBe(11);
    expect(hostProc.lseek(fd, 6, 0)).toBe(6);
    const buf = Buffer.alloc(5);
    expect(readSync(fd, buf, 0, 5, null)).toBe(5);
    expect(buf.toString()).toBe('world');
    closeSync(fd);
    const [r, w] = pipe();
    expect(hostProc.lseek(r, 0, 1)).toBe(-29); // ESPIPE
    expect(hostProc.fcntl(w, 3 /* F_GETFL */, 0) & 3).toBe(1); // O_WRONLY
    closeSync(r);
    closeSync(w);
    expect(hostProc.lseek(r, 0, 0)).toBe(-9); // EBADF
  });
});
