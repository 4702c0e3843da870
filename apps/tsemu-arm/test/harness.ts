import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const TSEMU_ARM = fileURLToPath(new URL('../bin/tsemu-arm.js', import.meta.url));
export const PROGRAMS = fileURLToPath(new URL('./programs/', import.meta.url));

const INSTALL_HINT: Record<string, string> = {
  'arm-linux-gnueabihf-gcc': 'apt-get install -y gcc-arm-linux-gnueabihf',
  'qemu-arm-static': 'apt-get install -y qemu-user-static',
};

/** Fail loudly (never skip) when a tool the differential tests need is missing. */
export function requireTool(name: string): void {
  const r = spawnSync('sh', ['-c', `command -v ${name}`], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${name} is not installed; the ARM differential tests need it (${INSTALL_HINT[name] ?? 'install it'})`);
}

/** The armhf busybox-static binary: $BUSYBOX_ARMHF or /opt/busybox-armhf/bin/busybox. */
export function requireBusybox(): string {
  const p = process.env.BUSYBOX_ARMHF ?? '/opt/busybox-armhf/bin/busybox';
  if (!existsSync(p)) {
    throw new Error(`armhf busybox not found at ${p}; install it with: dpkg --add-architecture armhf && apt-get update && ` +
      `apt-get download busybox-static:armhf && dpkg -x busybox-static_*.deb /opt/busybox-armhf (or set BUSYBOX_ARMHF)`);
  }
  return p;
}

/**
 * qemu-arm hands the ARM programs a guest execs (a shell's `busybox sort`) to
 * the host kernel, which runs them through binfmt_misc: without qemu-arm
 * registered there, the reference side of a busybox pipeline fails with
 * ENOEXEC. (.ci/run registers it.)
 */
export function requireArmBinfmt(): void {
  let entry = '';
  try { entry = readFileSync('/proc/sys/fs/binfmt_misc/qemu-arm', 'utf8'); } catch { /* not registered */ }
  if (!entry.startsWith('enabled')) {
    throw new Error('qemu-arm is not registered with binfmt_misc, so qemu-arm cannot run the ARM programs a guest starts; ' +
      'register it as .ci/run does (mount binfmt_misc, then write /usr/share/binfmts/qemu-arm\'s entry to /proc/sys/fs/binfmt_misc/register)');
  }
}

export function tempDir(): string {
  return mkdtempSync(join(tmpdir(), 'tsemu-arm-test-'));
}

/** Compile a C file for armhf, statically, in Thumb or ARM state. */
export function compile(src: string, out: string, mode: 'thumb' | 'arm', extra: string[] = []): void {
  const r = spawnSync('arm-linux-gnueabihf-gcc', ['-static', '-O2', `-m${mode}`, src, '-o', out, '-lm', ...extra], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`compiling ${src} failed:\n${r.stderr}`);
}

export interface RunResult { stdout: string; status: number | null; signal: string | null; stderr: string }

export function run(cmd: string, args: string[], opts: { cwd?: string; input?: string } = {}): RunResult {
  // latin1 keeps binary output (gzip -c) byte-exact in the comparison.
  const r = spawnSync(cmd, args, { encoding: 'latin1', cwd: opts.cwd, input: opts.input ?? '', maxBuffer: 64 << 20, timeout: 120_000 });
  if (r.error) throw r.error;
  return { stdout: r.stdout, status: r.status, signal: r.signal, stderr: r.stderr };
}

export function runQemu(args: string[], cwd?: string, input?: string): RunResult {
  return run('qemu-arm-static', args, { cwd, input });
}

export function runTsemu(args: string[], cwd?: string, input?: string): RunResult {
  return run(process.execPath, [TSEMU_ARM, ...args], { cwd, input });
}
