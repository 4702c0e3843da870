import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { requireBusybox, requireTool, runQemu, runTsemu, tempDir } from './harness.js';

// Process behaviour qemu-arm-static cannot be compared with here (it runs an
// execve'd ARM program only through binfmt_misc), and the pure-JS fallback.
describe('tsemu-arm guest processes', () => {
  let bb = '', dir = '';
  beforeAll(() => {
    requireTool('qemu-arm-static');
    bb = requireBusybox();
    dir = tempDir();
  });

  it('execve of an ARM program replaces the process in place: same pid, descriptors kept', () => {
    const t = runTsemu([bb, 'sh', '-c', `echo $$ > pid1; exec 3>fd3.txt; exec ${bb} sh -c 'echo $$ > pid2; echo via-inherited-3 >&3'`], dir);
    expect(t.status).toBe(0);
    const pid1 = readFileSync(join(dir, 'pid1'), 'utf8'), pid2 = readFileSync(join(dir, 'pid2'), 'utf8');
    expect(pid1).toMatch(/^\d+\n$/);
    expect(pid2).toBe(pid1);
    expect(readFileSync(join(dir, 'fd3.txt'), 'utf8')).toBe('via-inherited-3\n');
  });

  it('parent and child share file offsets (one open file description)', () => {
    const args = [bb, 'sh', '-c', '{ echo a; (echo b); echo c; sh -c "echo d"; } > out.txt; cat out.txt'];
    const q = runQemu(args, dir), t = runTsemu(args, dir);
    expect(t.stdout).toBe('a\nb\nc\nd\n');
    expect(t.stdout).toBe(q.stdout);
  });

  it('stdin piped from outside reaches a forked reader; the guest sees EOF', () => {
    const args = [bb, 'sh', '-c', 'while read l; do echo "<$l>"; done | cat; echo end'];
    const q = runQemu(args, dir, 'one\ntwo\n'), t = runTsemu(args, dir, 'one\ntwo\n');
    expect(t.stdout).toBe('<one>\n<two>\nend\n');
    expect(t.stdout).toBe(q.stdout);
  });

  it('TSEMU_SEQUENTIAL_FORK=1 keeps the pure-JS sequential processes working', () => {
    const args = [bb, 'sh', '-c', 'seq 1 5 | sort -r | head -n 2; (exit 4); echo $?'];
    process.env.TSEMU_SEQUENTIAL_FORK = '1';
    let t;
    try { t = runTsemu(args, dir); } finally { delete process.env.TSEMU_SEQUENTIAL_FORK; }
    expect(t.stdout).toBe('5\n4\n4\n');
    expect(t.status).toBe(0);
  });
});
