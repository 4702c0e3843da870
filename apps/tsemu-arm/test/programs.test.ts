import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { compile, PROGRAMS, requireTool, runQemu, runTsemu, tempDir } from './harness.js';

// Each C program is compiled at test time with -mthumb and -marm and run under
// qemu-arm-static and tsemu-arm: stdout, exit status and signal must agree.
const sources = readdirSync(PROGRAMS).filter((f) => f.endsWith('.c')).sort();

describe('tsemu-arm runs static armhf programs like qemu-arm', () => {
  let dir = '';
  beforeAll(() => {
    requireTool('arm-linux-gnueabihf-gcc');
    requireTool('qemu-arm-static');
    dir = tempDir();
  });

  it('-strace logs system calls, unknown ones answering ENOSYS', () => {
    const exe = join(dir, 'hello-strace');
    compile(join(PROGRAMS, 'hello.c'), exe, 'thumb');
    const t = runTsemu(['-strace', exe], dir);
    expect(t.status).toBe(3);
    expect(t.stderr).toMatch(/ write\(0x1,/);
    expect(t.stderr).toMatch(/ rseq\(.*\) = -1 errno=38/);
    expect(t.stderr).toMatch(/ exit_group\(3\)/);
  });

  it('indirect.c: hot calls through pointers run in TBs translated again through them, prologues end at their loops (-d stats)', () => {
    for (const mode of ['thumb', 'arm'] as const) {
      const exe = join(dir, `indirect-stats-${mode}`);
      compile(join(PROGRAMS, 'indirect.c'), exe, mode);
      const t = runTsemu(['-d', 'stats', exe], dir);
      expect(t.status).toBe(0);
      expect(Number(/(\d+) of them through an indirect branch/.exec(t.stderr)?.[1])).toBeGreaterThan(0);
      expect(Number(/(\d+) ending at a loop's own TB/.exec(t.stderr)?.[1])).toBeGreaterThan(0);
    }
  });

  it('proc-self.c under a name longer than 15 bytes: /proc/self/stat cuts the command name as qemu-arm does', () => {
    const exe = join(dir, 'a-rather-long-program-name');
    compile(join(PROGRAMS, 'proc-self.c'), exe, 'thumb');
    const q = runQemu([exe], dir), t = runTsemu([exe], dir);
    expect(q.stdout).toContain('main: command (a-rather-long-p),');
    expect(t.stdout, t.stderr).toBe(q.stdout);
    expect(t.status).toBe(q.status);
  });

  for (const src of sources) {
    for (const mode of ['thumb', 'arm'] as const) {
      it(`${src} (-m${mode})`, () => {
        const exe = join(dir, `${src.replace(/\.c$/, '')}-${mode}`);
        compile(join(PROGRAMS, src), exe, mode);
        const q = runQemu([exe], dir);
        const t = runTsemu([exe], dir);
        expect(t.stdout).toBe(q.stdout);
        expect({ status: t.status, signal: t.signal }).toEqual({ status: q.status, signal: q.signal });
      });
    }
  }
});
