// --fork without fork(2): the parent re-runs this program detached (minus
// --fork) with an IPC channel, waits until the child reports that it is
// listening (or failed), then exits. The child keeps the parent's stderr.
import { spawn, type ChildProcess } from 'node:child_process';

export const FORKED_ENV = 'TSEMU_NBD_FORKED';

/** In the parent: start the detached server; resolves to the exit status for the parent. */
export function forkServer(command: readonly string[], argv: readonly string[]): Promise<number> {
  const args = argv.filter((a) => a !== '--fork');
  const child: ChildProcess = spawn(command[0]!, [...command.slice(1), ...args], {
    detached: true,
    stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
    env: { ...process.env, [FORKED_ENV]: '1' },
  });
  return new Promise((resolve) => {
    let settled = false;
    const settle = (code: number): void => {
      if (settled) return;
      settled = true;
      if (child.connected) child.disconnect();
      child.unref();
      resolve(code);
    };
    child.on('message', (m: unknown) => settle(m === 'ready' ? 0 : 1));
    child.on('exit', (code) => settle(code === 0 ? 1 : (code ?? 1)));
    child.on('error', () => settle(1));
  });
}

/** In the child: tell the waiting parent the server is up, then drop the channel. */
export function reportReady(): void {
  if (process.env[FORKED_ENV] && process.send) {
    process.send('ready', () => process.disconnect?.());
  }
}

export function isForkedChild(): boolean {
  return process.env[FORKED_ENV] === '1';
}
