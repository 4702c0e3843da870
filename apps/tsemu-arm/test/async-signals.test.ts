import { spawnSync } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { compile, PROGRAMS, requireBusybox, requireTool, runQemu, runTsemu, tempDir, TSEMU_ARM, type RunResult } from './harness.js';

/** Run with stdin a FIFO opened read-write here: it never has data nor reaches EOF, so a `read` blocks until a signal. */
function runWithFifo(cmd: string, args: string[]): RunResult {
  const fifo = join(tempDir(), 'fifo');
  const mk = spawnSync('mkfifo', [fifo]);
  if (mk.status !== 0) throw new Error(`mkfifo failed: ${mk.stderr}`);
  const fd = openSync(fifo, 'r+');
  try {
    const r = spawnSync(cmd, args, { encoding: 'latin1', cwd: tempDir(), stdio: [fd, 'pipe', 'pipe'], timeout: 120_000 });
    if (r.error) throw r.error;
    return { stdout: r.stdout, status: r.status, signal: r.signal, stderr: r.stderr };
  } finally { closeSync(fd); }
}

// Signals from other processes (kill from a child or a shell, alarm's SIGALRM)
// run the guest's handlers, and blocking calls they interrupt return EINTR or
// restart (SA_RESTART) as under Linux: compared with qemu-arm-static on stdout
// and exit status. The delays in the programs only order events (the signal
// comes while the call blocks); nothing asserts on time.
const MODES = ['read-eintr', 'read-restart', 'wait-eintr', 'wait-restart', 'child-usr1', 'nanosleep', 'spin', 'busy', 'tight'];

// Busybox sh: traps on signals other processes send, `wait` on a killed job,
// and a `read` from a pipe nobody writes that a trapped signal interrupts.
const SHELL: [string, string][] = [
  ['trap on a signal sent to itself', 'trap "echo got USR1" USR1; kill -USR1 $$; echo after'],
  ['a job killed with TERM: wait gives 143', 'sleep 5 & pid=$!; sleep 0.3; kill -TERM $pid; wait $pid; echo "wait $?"'],
  ['trap INT from a background subshell during a foreground sleep', 'trap "echo int" INT; (sleep 0.2; kill -INT $$) & sleep 4; echo done'],
  ['trap USR1 interrupts wait (128 + 10)', 'trap "echo got USR1" USR1; (sleep 0.2; kill -USR1 $$) & wait; echo "after $?"; wait; echo end'],
  // stdin is a FIFO that stays open and empty (see below).
  ['trap HUP interrupts read from a FIFO', 'trap "echo hup" HUP; (sleep 0.2; kill -HUP $$) & read x; echo "read $?"; wait'],
  ['an untrapped TERM from a subshell ends the shell by SIGTERM', '(sleep 0.2; kill -TERM $$) & sleep 4; echo not reached'],
  ['an ignored signal does nothing', 'trap "" USR2; (kill -USR2 $$) & wait; echo still here'],
];

describe('asynchronous signals like qemu-arm', () => {
  let dir = '', bb = '';
  beforeAll(() => {
    requireTool('arm-linux-gnueabihf-gcc');
    requireTool('qemu-arm-static');
    bb = requireBusybox();
    dir = tempDir();
    for (const mode of ['thumb', 'arm'] as const) compile(join(PROGRAMS, 'async-signals.c'), join(dir, `async-${mode}`), mode);
  });

  for (const mode of ['thumb', 'arm'] as const) {
    for (const m of MODES) {
      it(`async-signals.c ${m} (-m${mode})`, () => {
        const exe = join(dir, `async-${mode}`);
        const q = runQemu([exe, m], dir);
        const t = runTsemu([exe, m], dir);
        expect(t.stdout, t.stderr).toBe(q.stdout);
        expect({ status: t.status, signal: t.signal }).toEqual({ status: q.status, signal: q.signal });
        // Not vacuous: the handler really ran in the reference too.
        expect(q.stdout).toMatch(/handler ran|got signal 10 from the child: yes/);
      }, 120_000);
    }
  }

  for (const [name, script] of SHELL) {
    it(`busybox sh: ${name}`, () => {
      const q = runWithFifo('qemu-arm-static', [bb, 'sh', '-c', script]);
      const t = runWithFifo(process.execPath, [TSEMU_ARM, bb, 'sh', '-c', script]);
      expect(t.stdout, t.stderr).toBe(q.stdout);
      expect({ status: t.status, signal: t.signal }).toEqual({ status: q.status, signal: q.signal });
      // Not vacuous: the reference printed something, or died of the signal.
      expect(q.stdout !== '' || q.signal === 'SIGTERM').toBe(true);
    }, 120_000);
  }
});
