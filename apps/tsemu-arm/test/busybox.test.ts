import { writeFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { requireArmBinfmt, requireBusybox, requireTool, runQemu, runTsemu, tempDir } from './harness.js';

// Debian's busybox-static for armhf under qemu-arm-static and tsemu-arm.
const CASES: [string, string[]][] = [
  ['echo', ['echo', 'hello', 'world']],
  ['printf', ['printf', '%s=%d %x %5.2f\\n', 'x', '42', '255', '3.14159']],
  ['expr', ['expr', '3', '+', '4', '*', '5']],
  ['sh loop arithmetic', ['sh', '-c', 'i=0; s=0; while [ $i -lt 200 ]; do s=$((s + i * i % 7)); i=$((i + 1)); done; echo $s']],
  ['sh functions and case', ['sh', '-c', 'f() { case $1 in a*) echo A$1;; *) echo other;; esac; }; for x in abc xyz apple; do f $x; done']],
  // (Debian's busybox awk has no libm: sqrt() and friends only say "Math support is not compiled in".)
  ['awk floating point', ['awk', 'BEGIN { x = 0; y = 1; for (i = 1; i <= 500; i++) { x += i / 3; y = y * 1.01 + 0.5 / i } printf("%.6f %e %g %d\\n", x, y, x / y, int(y)) }']],
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

// Pipelines between busybox processes: every command is the ARM busybox
// (`BB`, replaced by its path), so each stage is a guest process of its own
// under either emulator (a bare `sort` in sh would be the host's /usr/bin
// tool: Debian's busybox sh does not prefer its applets).
const BUSYBOX_PIPELINES: [string, string][] = [
  ['sort | head | tr', 'BB sort input.txt | BB head -n 5 | BB tr a-z A-Z'],
  ['cat | sort -r | md5sum', 'BB cat input.txt | BB sort -r | BB md5sum'],
  ['gzip | gunzip | cmp', 'BB gzip -c input.txt | BB gunzip -c | BB cmp - input.txt && BB echo same'],
  ['bzip2 | bunzip2 | wc', 'BB bzip2 -c input.txt | BB bunzip2 -c | BB wc -l'],
  ['seq | awk with floating point', 'BB seq 1 3000 | BB awk \'{ s += $1 / 7; p = p * 0.999 + $1 } END { printf "%.6f %e %d\\n", s, p, NR }\''],
  ['$(...) of a busybox child, then its exit status', 'n=$(BB wc -l < input.txt); echo "$n"; BB false; echo $?; BB sh -c "exit 5"; echo $?'],
  ['a busybox child\'s /proc/self/cmdline, and the last command\'s /proc/$$/cmdline', 'BB cat /proc/self/cmdline; echo; BB cat /proc/$$/cmdline'],
];

/** /proc/self/stat lines split into fields, the run's own numbers (pid, parent, start time, initial stack) as N. */
const statFields = (out: string): string[][] => out.trim().split('\n').map((l) => l.split(' ').map((f, i) => ([0, 3, 21, 27].includes(i) ? 'N' : f)));

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
  // (The ARM busybox's cat: a bare `cat` would be the host's, reading its own.)
  it('/proc/<own pid>/cmdline is the guest\'s too', () => {
    requireArmBinfmt();
    const args = [bb, 'sh', '-c', `echo; ${bb} cat /proc/$$/cmdline`];
    const q = runQemu(args, dir), t = runTsemu(args, dir);
    expect(q.stdout).toBe(`\n${bb}\0cat\0/proc/${/\/proc\/(\d+)\//.exec(q.stdout)?.[1]}/cmdline\0`);
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
    const q = runQemu(args, dir), t = runTsemu(args, dir);
    expect(statFields(q.stdout).map((f) => [f.length, f[1]])).toEqual([[44, '(busybox)'], [44, '(busybox)'], [44, '(busybox)']]);
    expect(statFields(t.stdout), t.stderr).toEqual(statFields(q.stdout));
    // Both subshells' parent is sh (the first line's pid).
    const pids = t.stdout.trim().split('\n').map((l) => l.split(' '));
    expect([pids[1]![3], pids[2]![3]]).toEqual([pids[0]![0], pids[0]![0]]);
    expect(pids[1]![0]).not.toBe(pids[0]![0]);
  });

  // Each stage of these is an ARM process; pids are normalised.
  for (const [name, script] of BUSYBOX_PIPELINES) {
    it(`busybox pipeline: ${name}`, () => {
      requireArmBinfmt();
      const args = [bb, 'sh', '-c', script.replace(/BB/g, bb)];
      const q = runQemu(args, dir), t = runTsemu(args, dir);
      expect(q.status, q.stderr).toBe(0);
      expect(q.stderr).toBe('');
      expect(t.stdout.replace(/\/proc\/\d+\//g, '/proc/N/'), t.stderr).toBe(q.stdout.replace(/\/proc\/\d+\//g, '/proc/N/'));
      expect({ status: t.status, signal: t.signal }, t.stderr).toEqual({ status: q.status, signal: q.signal });
    }, 180_000);
  }

  // A busybox child's /proc/self/stat: its pid, parent, start time and stack
  // are the run's numbers; the rest, the command name included, must match.
  it('/proc/self/stat of busybox children and of sh\'s last command', () => {
    requireArmBinfmt();
    const args = [bb, 'sh', '-c', `${bb} cat /proc/self/stat; (${bb} cat /proc/self/stat); ${bb} cat /proc/$$/stat`];
    const q = runQemu(args, dir), t = runTsemu(args, dir);
    expect(statFields(q.stdout).map((f) => [f.length, f[1]])).toEqual([[44, '(busybox)'], [44, '(busybox)'], [44, '(busybox)']]);
    expect(statFields(t.stdout), t.stderr).toEqual(statFields(q.stdout));
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
