import { writeFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { requireBusybox, requireTool, runQemu, runTsemu, tempDir } from './harness.js';

// Debian's busybox-static for armhf under qemu-arm-static and tsemu-arm.
const CASES: [string, string[]][] = [
  ['echo', ['echo', 'hello', 'world']],
  ['printf', ['printf', '%s=%d %x %5.2f\\n', 'x', '42', '255', '3.14159']],
  ['expr', ['expr', '3', '+', '4', '*', '5']],
  ['sh loop arithmetic', ['sh', '-c', 'i=0; s=0; while [ $i -lt 200 ]; do s=$((s + i * i % 7)); i=$((i + 1)); done; echo $s']],
  ['sh functions and case', ['sh', '-c', 'f() { case $1 in a*) echo A$1;; *) echo other;; esac; }; for x in abc xyz apple; do f $x; done']],
  ['awk floating point', ['awk', 'BEGIN { x = 0; for (i = 1; i <= 500; i++) x += sqrt(i) / 3; printf("%.6f %e\\n", x, x * 1e10) }']],
  ['seq', ['seq', '1', '3', '20']],
  ['sort', ['sort', 'input.txt']],
  ['sort -n -r', ['sort', '-n', '-r', 'numbers.txt']],
  ['wc', ['wc', 'input.txt']],
  ['md5sum', ['md5sum', 'input.txt']],
  ['sha256sum', ['sha256sum', 'input.txt']],
  ['ls', ['ls', '-1']],
  ['gzip -9', ['gzip', '-9', '-c', 'input.txt']],
  ['gunzip', ['gunzip', '-c', 'input.txt.gz']],
  ['bzip2', ['bzip2', '-c', 'input.txt']],
  ['bunzip2', ['bunzip2', '-c', 'input.txt.bz2']],
  // Pipelines, command substitution and external commands: fork / execve / wait4 / pipe.
  ['sh pipeline', ['sh', '-c', 'sort input.txt | head -n 5 | tr a-z A-Z']],
  ['sh pipeline of three with md5sum', ['sh', '-c', 'cat input.txt | sort -r | md5sum']],
  ['sh command substitution', ['sh', '-c', 'n=$(wc -l < input.txt); s=$(seq 1 10 | tr "\\n" +); echo "$n lines, $s"']],
  ['sh loop over a pipeline', ['sh', '-c', 'for w in alpha beta gamma; do echo $w | sed s/a/A/g; done']],
  ['sh exit status of a pipeline', ['sh', '-c', 'true | false; echo $?; false | true; echo $?; exit 3']],
  ['gzip | gunzip round trip', ['sh', '-c', 'gzip -c input.txt | gunzip -c | cmp - input.txt && echo same']],
  // The guest's own argument strings (qemu-arm answers these itself; the host's would show the emulator's command line).
  ['cat /proc/self/cmdline', ['cat', '/proc/self/cmdline']],
  ['/proc/self/cmdline from sh, a subshell, $(...) and a pipeline', ['sh', '-c', 'cat /proc/self/cmdline; echo; (cat /proc/self/cmdline); x=$(cat /proc/self/cmdline); echo "$x"; cat /proc/self/cmdline | od -c']],
];

// Concurrent processes (one host process per fork): endless producers, background jobs, SIGCHLD, SIGPIPE, kill.
const CONCURRENT: [string, string[]][] = [
  ['yes | head (the producer dies of SIGPIPE)', ['sh', '-c', 'yes | head -n 3']],
  ['seq | sort -n | tail', ['sh', '-c', 'seq 1 100000 | sort -n | tail -1']],
  ['background job and wait', ['sh', '-c', 'sleep 0.2 & wait; echo done']],
  ['exit status of false', ['sh', '-c', 'false; echo $?']],
  ['exit status of a subshell', ['sh', '-c', '(exit 3); echo $?']],
  ['cat /dev/zero | head -c | md5sum', ['sh', '-c', 'cat /dev/zero | head -c 100000 | md5sum']],
  // The child outlives the shell's start of `wait`, so the trapped SIGCHLD interrupts it: 128 + 17.
  ['trap on CHLD', ['sh', '-c', 'trap "echo child ended" CHLD; sleep 0.3 & wait $!; echo "waited $?"']],
  ['kill -9 $$', ['sh', '-c', 'echo before; kill -9 $$; echo after']],
  ['a pipeline\'s status is its last stage\'s', ['sh', '-c', 'yes | head -c 10 >/dev/null; yes | (head -n 1; exit 7); echo $?']],
];

describe('busybox (armhf) under tsemu-arm matches qemu-arm', () => {
  let bb = '', dir = '';
  beforeAll(() => {
    requireTool('qemu-arm-static');
    bb = requireBusybox();
    dir = tempDir();
    const lines: string[] = [];
    let s = 12345;
    for (let i = 0; i < 400; i++) { s = (s * 1103515245 + 12345) >>> 0; lines.push(`line ${s.toString(36)} ${i}`); }
    writeFileSync(join(dir, 'input.txt'), lines.join('\n') + '\n');
    writeFileSync(join(dir, 'input.txt.gz'), gzipSync(lines.join('\n') + '\n'));
    // input.txt.bz2, made by the reference (host has no bzip2 library).
    const z = runQemu([bb, 'bzip2', '-k', 'input.txt'], dir);
    if (z.status !== 0) throw new Error(`qemu-arm busybox bzip2 failed: ${z.stderr}`);
    writeFileSync(join(dir, 'numbers.txt'), lines.map((_, i) => String((i * 7919) % 1000)).join('\n') + '\n');
  });

  it('-0 picks the applet, -E / -U edit the environment', () => {
    for (const extra of [['-0', 'echo'], ['-E', 'FOO=bar', '-U', 'HOME']]) {
      const args = extra[0] === '-0' ? [...extra, bb, 'via', 'argv0'] : [...extra, bb, 'sh', '-c', 'echo $FOO ${HOME:-unset}'];
      const q = runQemu(args, dir), t = runTsemu(args, dir);
      expect(t.stdout).toBe(q.stdout);
      expect(t.status).toBe(q.status);
    }
  });

  // sh runs its last command in its own process, so $$ is that process; read
  // from any other, /proc/<pid>/cmdline is the host's view of the emulator.
  it('/proc/<own pid>/cmdline is the guest\'s too', () => {
    const args = [bb, 'sh', '-c', 'echo; cat /proc/$$/cmdline'];
    const q = runQemu(args, dir), t = runTsemu(args, dir);
    expect(q.stdout).toMatch(/^\ncat\0\/proc\/\d+\/cmdline\0$/);
    expect(t.stdout.replace(/\d+/g, 'N'), t.stderr).toBe(q.stdout.replace(/\d+/g, 'N'));
  });

  // /proc/self/stat, which qemu-arm answers itself too. The pids, the start
  // time and the initial stack pointer (each emulator lays out its own
  // stack) are numbers of the run; the other fields and the command name
  // must match: read by sh itself, by a forked subshell and by a command
  // substitution. (Only sh's builtin read: `cat` here is the host's
  // /usr/bin/cat under both emulators, reading its own host stat.)
  it('/proc/self/stat from sh, a subshell and $(...)', () => {
    const args = [bb, 'sh', '-c', 'read l < /proc/self/stat; echo "$l"; (read l < /proc/self/stat; echo "$l"); x=$(read l < /proc/self/stat; echo "$l"); echo "$x"'];
    const fields = (out: string): string[][] => out.trim().split('\n').map((l) => l.split(' ').map((f, i) => ([0, 3, 21, 27].includes(i) ? 'N' : f)));
    const q = runQemu(args, dir), t = runTsemu(args, dir);
    expect(fields(q.stdout).map((f) => [f.length, f[1]])).toEqual([[44, '(busybox)'], [44, '(busybox)'], [44, '(busybox)']]);
    expect(fields(t.stdout), t.stderr).toEqual(fields(q.stdout));
    // Both subshells' parent is sh (the first line's pid).
    const pids = t.stdout.trim().split('\n').map((l) => l.split(' '));
    expect([pids[1]![3], pids[2]![3]]).toEqual([pids[0]![0], pids[0]![0]]);
    expect(pids[1]![0]).not.toBe(pids[0]![0]);
  });

  for (const [name, args] of [...CASES, ...CONCURRENT]) {
    it(name, () => {
      const q = runQemu([bb, ...args], dir);
      const t = runTsemu([bb, ...args], dir);
      expect(t.stdout, t.stderr).toBe(q.stdout);
      expect({ status: t.status, signal: t.signal }, t.stderr).toEqual({ status: q.status, signal: q.signal });
    }, 180_000);
  }
});
