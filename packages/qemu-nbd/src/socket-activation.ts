// systemd socket activation as qemu-nbd 7.2 does it: LISTEN_PID naming this
// process and LISTEN_FDS=1 mean "serve on fd 3"; -k/-b/-p and -L are then
// refused, and fd 3 must be a socket.
import { fstatSync } from 'node:fs';
import { CliError } from './options-errors.js';

export const FIRST_LISTEN_FD = 3;

/** C strtoul over the whole string (leading white space allowed); undefined if not a number. */
function ulong(text: string | undefined): number | undefined {
  const m = text === undefined ? null : /^[ \t\n\v\f\r]*\+?([0-9]+)$/.exec(text);
  return m ? Number(m[1]) : undefined;
}

/** How many sockets systemd passed (0: not socket-activated); checks that each fd is open. */
export function socketActivationFds(env: NodeJS.ProcessEnv = process.env): number {
  if (ulong(env.LISTEN_PID) !== process.pid) return 0;
  const n = ulong(env.LISTEN_FDS);
  if (!n) return 0;
  for (let fd = FIRST_LISTEN_FD; fd < FIRST_LISTEN_FD + n; fd++) {
    try {
      fstatSync(fd);
    } catch {
      throw new CliError(`Socket activation failed: invalid file descriptor fd = ${fd}: Bad file descriptor`);
    }
  }
  return n;
}

/** The checks qemu-nbd makes once it knows it is socket-activated. */
export function checkActivatedSettings(n: number, s: { socket?: string; bind?: string; port?: string; list: boolean }): void {
  if (s.socket !== undefined) throw new CliError("Unix socket can't be set when using socket activation");
  if (s.bind !== undefined) throw new CliError("The interface can't be set when using socket activation");
  if (s.port !== undefined) throw new CliError("TCP port number can't be set when using socket activation");
  if (s.list) throw new CliError('List mode is incompatible with socket activation');
  if (n > 1) throw new CliError('qemu-nbd does not support socket activation with LISTEN_FDS > 1');
}

/** Before listening on fd 3: qemu-nbd asks for its address, which fails unless it is a socket. */
export function checkActivationSocket(): void {
  if (!fstatSync(FIRST_LISTEN_FD).isSocket()) {
    throw new CliError('Failed to use socket activation: Unable to query remote socket address: Socket operation on non-socket');
  }
}
