import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { TSEMU_ARM, requireBusybox, runTsemu, tempDir } from './harness.js';

// Bad input: a clear message, a non-zero exit, no stack trace.
describe('tsemu-arm command line', () => {
  it('prints usage for -h and fails without a program', () => {
    const h = runTsemu(['-h']);
    expect(h.status).toBe(0);
    expect(h.stdout).toMatch(/^usage: tsemu-arm/);
    const none = runTsemu([]);
    expect(none.status).toBe(1);
    expect(none.stderr).toMatch(/no program given/);
  });

  it('rejects unknown options, missing files and non-ARM files', () => {
    const bad = runTsemu(['-bogus', 'x']);
    expect(bad.status).toBe(1);
    expect(bad.stderr).toMatch(/unknown option '-bogus'/);
    const missing = runTsemu(['/nonexistent/prog']);
    expect(missing.status).toBe(1);
    expect(missing.stderr).toMatch(/No such file or directory/);
    const dir = tempDir();
    writeFileSync(join(dir, 'text'), 'not an executable\n');
    const text = runTsemu([join(dir, 'text')]);
    expect(text.status).toBe(1);
    expect(text.stderr).toBe('tsemu-arm: not an ELF file\n');
    const host = runTsemu([process.execPath]);
    expect(host.status).toBe(1);
    expect(host.stderr).toMatch(/^tsemu-arm: not a 32-bit ELF file|^tsemu-arm: not an ARM executable/);
  });

  // -d as qemu-arm parses it: `help` or an unknown item prints the list on
  // stdout and fails with status 1; qemu-arm's items tsemu-arm lacks are
  // ignored with a warning; `strace` is -strace.
  it('-d help and unknown items list the items (status 1); qemu-only items are ignored with a warning', () => {
    const bb = requireBusybox();
    for (const arg of ['help', 'bogus', 'stats,bogus']) {
      const r = runTsemu(['-d', arg, bb, 'true']);
      expect(r.status).toBe(1);
      expect(r.stdout).toMatch(/^Log items \(comma separated\):\nop {14}show /);
      expect(r.stdout).toMatch(/\nstrace {10}log every user-mode syscall/);
    }
    const qemuOnly = runTsemu(['-d', 'in_asm,exec,trace:foo', bb, 'echo', 'ran']);
    expect(qemuOnly.status).toBe(0);
    expect(qemuOnly.stdout).toBe('ran\n');
    expect(qemuOnly.stderr).toBe('tsemu-arm: -d in_asm is not supported, ignored\ntsemu-arm: -d exec is not supported, ignored\n' +
      'tsemu-arm: -d trace:foo is not supported, ignored\n');
    const strace = runTsemu(['-d', 'strace', bb, 'true']);
    expect(strace.status).toBe(0);
    expect(strace.stderr).toMatch(/^\d+ .*exit_group\(0\)/m);
  });

  // The shebang's flag is a CPU-time choice (bin/tsemu-arm.js): check the
  // node a user gets by running the bin really has it, through a preload
  // that records node's own command-line flags.
  it('runs node with --no-concurrent-recompilation when started as a program', () => {
    const dir = tempDir();
    const probe = join(dir, 'probe.cjs'), out = join(dir, 'exec-argv.json');
    writeFileSync(probe, `require('node:fs').writeFileSync(${JSON.stringify(out)}, JSON.stringify(process.execArgv));\n`);
    const r = spawnSync(TSEMU_ARM, ['-h'], { encoding: 'utf8', env: { ...process.env, NODE_OPTIONS: `--require ${probe}` } });
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/^usage: tsemu-arm/);
    expect(JSON.parse(readFileSync(out, 'utf8'))).toContain('--no-concurrent-recompilation');
  });

  // Compiled TBs count guest instructions only when -d stats asks (the count
  // costs ~3% of a run): with it, the count of a run that compiles hot TBs
  // equals the IR interpreter's (-interp), instruction for instruction.
  it('-d stats counts every guest instruction, compiled TBs included (as many as -interp counts)', () => {
    const bb = requireBusybox();
    const script = 'i=0; while [ $i -lt 200 ]; do i=$((i+1)); done; echo $i';
    const count = (args: string[]): number => {
      const r = runTsemu([...args, '-d', 'stats', bb, 'sh', '-c', script]);
      expect(r.stdout).toBe('200\n');
      expect(r.stderr).toMatch(/\((\d+) hot, compiled/);
      return Number(/(\d+) guest instructions/.exec(r.stderr)?.[1]);
    };
    const compiled = count([]);
    expect(compiled).toBeGreaterThan(1_000_000);
    expect(compiled).toBe(count(['-interp']));
  });

  // main ends with process.exit (no isolate teardown): nothing written before it may be lost.
  it('exits with the guest status after all of its output, and the -d stats line, reached the pipes', () => {
    const bb = requireBusybox();
    const r = runTsemu(['-d', 'stats', bb, 'sh', '-c', 'seq 1 30000; echo done >&2; exit 3']);
    expect(r.status).toBe(3);
    const lines = r.stdout.split('\n');
    expect(lines.length).toBe(30001);
    expect(lines[29999]).toBe('30000');
    expect(r.stderr).toMatch(/^done\ntsemu-arm: \d+ guest instructions, .* MIPS\n$/);
  });
});
