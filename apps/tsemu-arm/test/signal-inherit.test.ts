import { spawn, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { compile, PROGRAMS, requireBusybox, requireTool, runQemu, runTsemu, tempDir, TSEMU_ARM, type RunResult } from './harness.js';

// Signal dispositions across fork and execve (SIG_IGN survives, handlers go
// back to SIG_DFL, the mask and pending signals stay), ignored, blocked and
// real-time signals other processes send, compared with qemu-arm-static on
// stdout and exit status where it can show them. Nothing asserts on time: the
// scripts order events with files and `wait`, not with delays.

/** Run through a host shell, so the outer shell reports how the guest ended (`echo $?`). */
function viaShell(script: string, cwd: string): RunResult {
  const r = spawnSync('/bin/sh', ['-c', script], { encoding: 'latin1', cwd, timeout: 120_000 });
  if (r.error) throw r.error;
  return { stdout: r.stdout, status: r.status, signal: r.signal, stderr: r.stderr };
}

/** Start `cmd`, wait for "ready" on its stdout, send it `signals` from here (the host), collect the rest. */
function signalWhenReady(cmd: string, args: string[], signals: number[]): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '', stderr = '', sent = false;
    child.stdout.setEncoding('latin1').on('data', (d: string) => {
      stdout += d;
      if (!sent && stdout.includes('ready')) { sent = true; for (const s of signals) process.kill(child.pid!, s); }
    });
    child.stderr.setEncoding('latin1').on('data', (d: string) => { stderr += d; });
    child.on('error', reject);
    child.on('close', (status, signal) => resolve({ stdout, stderr, status, signal }));
  });
}

// busybox sh: `trap ''` survives fork and exec, also into host programs the
// guest execs; `trap -` restores the default; background jobs ignore SIGINT.
const SHELL: [string, string][] = [
  ['trap "" INT, then kill -INT $$', "trap '' INT; kill -INT $$; echo alive"],
  ['an ignored INT survives exec', "(trap '' INT; exec sh -c 'kill -INT $$; echo survived')"],
  ['an ignored HUP survives fork', "trap '' HUP; sh -c 'kill -HUP $$; echo child ignores HUP'; echo parent too"],
  ['an ignored signal survives into an exec\'d host program', "trap '' INT; exec /bin/sh -c 'kill -INT $$; echo host program ignores INT'"],
  ['SIG_DFL reaches an exec\'d host program: it dies of SIGPIPE', "exec /bin/sh -c 'kill -PIPE $$; echo not reached'"],
  ['trap - INT restores the default', "trap '' INT; trap - INT; kill -INT $$; echo not reached"],
  ['a child forked while INT is ignored ignores a kill sent at once',
    "trap '' INT; sh -c 'echo child alive' & kill -INT $!; wait $!; echo status $?"],
  ['a background job ignores SIGINT: kill -INT %1',
    "sh -c ': > up; sleep 1; echo bg alive' & while [ ! -e up ]; do sleep 0.1; done; kill -INT %1; wait %1; echo status $?"],
  ['a background job still dies of TERM', "sh -c ': > up2; sleep 5; echo not reached' & while [ ! -e up2 ]; do sleep 0.1; done; kill -TERM %1; wait %1; echo status $?"],
];

describe('signal dispositions across fork and execve, like qemu-arm', () => {
  let dir = '', bb = '';
  beforeAll(() => {
    requireTool('arm-linux-gnueabihf-gcc');
    requireTool('qemu-arm-static');
    bb = requireBusybox();
    dir = tempDir();
    for (const mode of ['thumb', 'arm'] as const) compile(join(PROGRAMS, 'signal-inherit.c'), join(dir, `inherit-${mode}`), mode);
  });

  for (const mode of ['thumb', 'arm'] as const) {
    it(`signal-inherit.c exec: sigaction after fork and execve (-m${mode})`, () => {
      const exe = join(dir, `inherit-${mode}`);
      // qemu-arm runs an execve'd ARM program only through binfmt_misc: its side execs the emulator again.
      const q = viaShell(`RUNNER=$(command -v qemu-arm-static) qemu-arm-static ${exe} exec; echo "exit $?"`, dir);
      const t = viaShell(`env -u RUNNER '${process.execPath}' '${TSEMU_ARM}' ${exe} exec; echo "exit $?"`, dir);
      expect(t.stdout, t.stderr).toBe(q.stdout);
      expect(q.stdout).toContain('after execve: INT SIG_IGN, PIPE SIG_IGN, RTMIN+3 SIG_IGN, USR1 SIG_DFL');
    }, 120_000);

    it(`signal-inherit.c rt-child: SIGRTMIN+2 from a forked child reaches the handler (-m${mode})`, () => {
      const exe = join(dir, `inherit-${mode}`);
      const q = runQemu([exe, 'rt-child'], dir), t = runTsemu([exe, 'rt-child'], dir);
      expect(t.stdout, t.stderr).toBe(q.stdout);
      expect(t.status).toBe(q.status);
      expect(q.stdout).toBe('caught RTMIN+2 from the child: si_code 0, sender ok\n');
    }, 120_000);
  }

  it('signal-inherit.c blocked: TERM and USR2 from outside stay pending while blocked, HUP ignored', async () => {
    const exe = join(dir, 'inherit-thumb');
    const sigs = [15, 1, 12]; // TERM, HUP, USR2
    const q = await signalWhenReady('qemu-arm-static', [exe, 'blocked'], sigs);
    const t = await signalWhenReady(process.execPath, [TSEMU_ARM, exe, 'blocked'], sigs);
    expect(t.stdout, t.stderr).toBe(q.stdout);
    expect({ status: t.status, signal: t.signal }).toEqual({ status: q.status, signal: q.signal });
    expect(q.stdout).toBe('ready\npending USR2 1 TERM 1 HUP 0\n');
    expect(q.signal).toBe('SIGUSR2'); // unblocking delivers the lowest first
  }, 120_000);

  for (const [name, script] of SHELL) {
    it(`busybox sh: ${name}`, () => {
      const d = tempDir();
      const q = runQemu([bb, 'sh', '-c', script], d);
      const t = runTsemu([bb, 'sh', '-c', script], tempDir());
      expect(t.stdout, t.stderr).toBe(q.stdout);
      expect({ status: t.status, signal: t.signal }).toEqual({ status: q.status, signal: q.signal });
      expect(q.stdout !== '' || q.signal !== null).toBe(true); // not vacuous
    }, 120_000);
  }
});

// What qemu-arm cannot show here, checked against the kernel's rules instead.
describe('tsemu-arm signal inheritance (kernel semantics)', () => {
  let exe = '';
  beforeAll(() => {
    requireTool('arm-linux-gnueabihf-gcc');
    exe = join(tempDir(), 'inherit');
    compile(join(PROGRAMS, 'signal-inherit.c'), exe, 'thumb');
  });

  // execve keeps the mask and pending signals; the fork child starts with none pending.
  // (qemu-arm 7.2 loses the mask when its side re-enters the emulator.)
  const expectedMask = ['forked child: USR2 blocked 1 pending 0; TSEMU_SIGNAL_STATE absent\n',
    'after execve: USR2 blocked 1 pending 1; TSEMU_SIGNAL_STATE absent\n'];

  it('the mask and a pending signal survive execve', () => {
    const t = runTsemu([exe, 'exec', 'mask']);
    expect(t.status).toBe(0);
    expect(t.stdout).toContain('after execve: INT SIG_IGN, PIPE SIG_IGN, RTMIN+3 SIG_IGN, USR1 SIG_DFL');
    for (const line of expectedMask) expect(t.stdout).toContain(line);
  }, 120_000);

  it('the pure-JS fallback (TSEMU_SEQUENTIAL_FORK=1) hands them to the tsemu-arm its execve starts', () => {
    const r = spawnSync(process.execPath, [TSEMU_ARM, exe, 'exec', 'mask'], {
      encoding: 'latin1', env: { ...process.env, TSEMU_SEQUENTIAL_FORK: '1' }, timeout: 120_000,
    });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toContain('after execve: INT SIG_IGN, PIPE SIG_IGN, RTMIN+3 SIG_IGN, USR1 SIG_DFL');
    for (const line of expectedMask) expect(r.stdout).toContain(line);
  }, 120_000);

  it('real-time signals ignored by whoever started tsemu-arm stay ignored (Node keeps those)', () => {
    // The host numbers are the guest's (a kernel does no mapping; qemu-arm 7.2 shifts real-time signals by 2).
    const t = viaShell(`trap '' 37; '${process.execPath}' '${TSEMU_ARM}' ${exe} show`, tempDir());
    expect(t.stdout, t.stderr).toMatch(/RTMIN\+3 SIG_IGN/);
    const plain = runTsemu([exe, 'show']);
    expect(plain.stdout).toMatch(/RTMIN\+3 SIG_DFL/);
  }, 120_000);

  it('SIGRTMIN+2 sent from the host reaches the guest handler as signal 36, SI_USER, with the sender', async () => {
    const t = await signalWhenReady(process.execPath, [TSEMU_ARM, exe, 'rt-wait'], [36]);
    expect(t.stdout, t.stderr).toBe('ready 36\ncaught RTMIN+2: si_code 0, sender ok\n');
    expect(t.status).toBe(0);
  }, 120_000);

  it('an uncaught real-time signal from outside ends tsemu-arm by that signal', () => {
    const t = viaShell(`'${process.execPath}' '${TSEMU_ARM}' ${exe} blocked 10000 > out & pid=$!; ` +
      `while ! grep -qs ready out; do sleep 0.1; done; kill -40 $pid; wait $pid; echo "status $?"`, tempDir());
    expect(t.stdout.trim().split('\n').pop()).toBe(`status ${128 + 40}`);
  }, 120_000);
});
