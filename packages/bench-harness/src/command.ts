import { spawn } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { resolve } from 'node:path';
import type { ArgvCommand, BenchContext, Command } from './define.js';

export class CommandFailedError extends Error {
  override readonly name = 'CommandFailedError';
}

const STDERR_KEEP = 2048;

/**
 * Variables that change what a measured process does at start-up without
 * changing its work. NODE_EXTRA_CA_CERTS makes every Node process parse a CA
 * bundle before running any code (~50 ms here, more than all of Node's own
 * start-up); the tsemu tools never use the default CA store (their TLS takes
 * the CA from --object), so a machine that sets it for npm would otherwise
 * charge it to every tsemu run. QEMU's tools ignore it. BENCH_KEEP_ENV=1
 * keeps the environment as it is.
 */
export const STARTUP_ONLY_ENV = ['NODE_EXTRA_CA_CERTS'] as const;

/** The environment measured commands run with (see STARTUP_ONLY_ENV). */
export function measuredEnv(env: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  if (env['BENCH_KEEP_ENV'] === '1') return env;
  const out = { ...env };
  for (const name of STARTUP_ONLY_ENV) delete out[name];
  return out;
}

/** Names of STARTUP_ONLY_ENV variables the bench removes from this environment (for its report). */
export function removedEnv(env: NodeJS.ProcessEnv = process.env): string[] {
  if (env['BENCH_KEEP_ENV'] === '1') return [];
  return STARTUP_ONLY_ENV.filter((name) => env[name] !== undefined);
}

/**
 * Runs a command to completion; rejects if it fails. The caller times it.
 * Resolves to the tail of the command's stderr ('' for an in-process function).
 */
export async function runCommand(cmd: Command, ctx: BenchContext): Promise<string> {
  if (typeof cmd === 'function') {
    await cmd(ctx);
    return '';
  }
  const spec: ArgvCommand = isArgvArray(cmd) ? { argv: cmd } : cmd;
  return spawnCommand(spec, ctx.dir);
}

function isArgvArray(cmd: readonly string[] | ArgvCommand): cmd is readonly string[] {
  return Array.isArray(cmd);
}

function spawnCommand(spec: ArgvCommand, dir: string): Promise<string> {
  const [program, ...args] = spec.argv;
  if (!program) return Promise.reject(new CommandFailedError('empty argv'));
  const base = measuredEnv();
  const stdinFd = spec.stdin === undefined ? 'ignore' : openSync(resolve(dir, spec.stdin), 'r');
  return new Promise<string>((resolvePromise, reject) => {
    let settled = false;
    let stderr = '';
    const finish = (err?: Error): void => {
      if (settled) return;
      settled = true;
      if (typeof stdinFd === 'number') closeSync(stdinFd);
      if (err) reject(err);
      else resolvePromise(stderr);
    };
    // stdout goes to /dev/null: piping it would time our own reading, not the tool.
    const child = spawn(program, args, {
      cwd: dir,
      stdio: [stdinFd, 'ignore', 'pipe'],
      env: spec.env ? { ...base, ...spec.env } : base,
    });
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (chunk: string) => {
      stderr = (stderr + chunk).slice(-STDERR_KEEP);
    });
    child.on('error', (err) => finish(new CommandFailedError(`${program}: ${err.message}`)));
    child.on('close', (code, signal) => {
      if (code === 0) return finish();
      const how = signal ? `killed by ${signal}` : `exited with code ${code}`;
      const reason = stderrReason(stderr);
      finish(new CommandFailedError(`${program} ${how}${reason ? `: ${reason}` : ''}`));
    });
  });
}

/** The line of stderr that explains a failure: a tool's `prog: message` or a JS `...Error: message`, else the last line. */
function stderrReason(stderr: string): string | undefined {
  const lines = stderr.split('\n').map((l) => l.trim()).filter((l) => l !== '');
  return lines.find((l) => /^[\w.-]+: |Error\b[^:]*: /.test(l)) ?? lines.at(-1);
}

/** Shell-ish rendering of a command, for error messages and --list. */
export function describeCommand(cmd: Command): string {
  if (typeof cmd === 'function') return cmd.name ? `<fn ${cmd.name}>` : '<fn>';
  const argv = isArgvArray(cmd) ? cmd : cmd.argv;
  const shown = argv.slice(0, 8).map(quote).join(' ');
  return argv.length > 8 ? `${shown} ... (${argv.length} args)` : shown;
}

function quote(arg: string): string {
  return /^[\w@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replace(/'/g, `'\\''`)}'`;
}
