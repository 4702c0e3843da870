// Output streams and the error types a command throws; index.ts turns them
// into QEMU's messages and exit codes.

export interface OutputStream {
  write(chunk: string): unknown;
}

export interface Io {
  stdout: OutputStream;
  stderr: OutputStream;
}

export const PROGRAM = 'qemu-img';

/** An error qemu-img reports as `qemu-img: <message>` (no usage hint). */
export class CommandError extends Error {
  readonly exitCode: number;
  constructor(message: string, exitCode = 1) {
    super(message);
    this.name = 'CommandError';
    this.exitCode = exitCode;
  }
}

/** Per-run helpers handed to every command. */
export class Context {
  constructor(readonly io: Io) {}

  out(text: string): void {
    this.io.stdout.write(text);
  }

  /** Prints `qemu-img: <line>` on stderr. */
  error(line: string): void {
    this.io.stderr.write(`${PROGRAM}: ${line}\n`);
  }

  /** QEMU's warn_report: `qemu-img: warning: ` and the text as it is (it carries its own line breaks). */
  warnReport(text: string): void {
    this.io.stderr.write(`${PROGRAM}: warning: ${text}`);
  }

  /** Prints a raw line on stderr (warnings that carry their own prefix). */
  warnLine(line: string): void {
    this.io.stderr.write(`${line}\n`);
  }
}

/** -h / --help inside a sub-command: print the help text, exit 0. */
export class HelpRequested extends Error {
  constructor() {
    super('help');
    this.name = 'HelpRequested';
  }
}

/** Text for stdout and exit status 0 from inside a command (`--object help`). */
export class PrintAndExit extends Error {
  constructor(readonly stdout: string) {
    super('print and exit');
    this.name = 'PrintAndExit';
  }
}
