// qemu-img as a library: main(argv) runs one invocation and resolves to its
// exit status. Errors become one line in QEMU's words on stderr, never a
// stack trace.
import { COMMANDS } from './commands/index.js';
import { getopt, UsageError } from './getopt.js';
import { helpText, versionText } from './help.js';
import { CommandError, Context, HelpRequested, PrintAndExit, PROGRAM, type Io } from './io.js';
import { registerAllDrivers, resetUserObjects } from '@tsemu/block-drivers';
import { TRACE_EVENT_NAMES, TraceHelpRequested, TraceOptionError, openTraceFile, parseTraceOpt } from '@tsemu/block-core';

export { COMMANDS, registerCommand, type SubCommand } from './commands/index.js';
export { getopt, UsageError, type GetoptSpec, type ParsedArgs } from './getopt.js';
export { CommandError, Context, type Io, type OutputStream } from './io.js';
export { ProgressMeter } from './progress.js';
export { helpText, versionText } from './help.js';

// The process streams are made on first use: building process.stdout/stderr
// costs Node ~2-4 ms each (node:stream, a pipe or SyncWriteStream), which a
// convert that prints nothing never needs. A closed or full stream (| head,
// >/dev/full) must not become a stack trace; qemu-img ignores those errors too.
const ignore = (): void => {};
let stdout: NodeJS.WriteStream | undefined;
let stderr: NodeJS.WriteStream | undefined;
const DEFAULT_IO: Io = {
  get stdout() { return stdout ??= process.stdout.on('error', ignore); },
  get stderr() { return stderr ??= process.stderr.on('error', ignore); },
};

export async function main(argv: string[], io: Io = DEFAULT_IO): Promise<number> {
  registerAllDrivers();
  resetUserObjects(); // --object definitions belong to one invocation
  const ctx = new Context(io);
  try {
    return await dispatch(ctx, argv);
  } catch (err) {
    return report(ctx, err);
  }
}

async function dispatch(ctx: Context, argv: string[]): Promise<number> {
  const { options, operands } = getopt(PROGRAM, argv, {
    short: ':hVT:',
    long: [
      { name: 'help', arg: 'none', key: 'h' },
      { name: 'version', arg: 'none', key: 'V' },
      { name: 'trace', arg: 'required', key: 'T' },
    ],
    stopAtOperand: true,
  });
  let traceFile: string | undefined;
  const traceWarn = (text: string, where?: string): void =>
    void ctx.io.stderr.write(`${PROGRAM}:${where ? `${where}:` : ''} warning: ${text}\n`);
  for (const o of options) {
    if (o.key === 'h') throw new HelpRequested();
    if (o.key === 'V') {
      ctx.out(versionText());
      return 0;
    }
    // -T/--trace: checked as qemu-img does; there are no trace events to emit yet.
    if (o.key === 'T') traceFile = parseTraceOpt(o.arg!, PROGRAM, traceWarn) ?? traceFile;
  }
  // qemu-img wants some argument, but options alone (`-T x`) end quietly with status 0.
  if (argv.length === 0) throw new UsageError('Not enough arguments');
  if (operands.length === 0) return 0;
  if (traceFile !== undefined) openTraceFile(traceFile);
  const name = operands[0]!;
  const command = COMMANDS.get(name);
  if (!command) throw new UsageError(`Command not found: ${name}`);
  return command.run(ctx, operands.slice(1));
}

function report(ctx: Context, err: unknown): number {
  if (err instanceof HelpRequested) {
    ctx.out(helpText());
    return 0;
  }
  if (err instanceof TraceHelpRequested) {
    ctx.out(`${TRACE_EVENT_NAMES.join('\n')}\n`);
    return 0;
  }
  if (err instanceof TraceOptionError) {
    if (err.prefixed) ctx.error(err.message);
    else ctx.io.stderr.write(`${err.message}\n`);
    return 1;
  }
  if (err instanceof PrintAndExit) {
    ctx.out(err.stdout);
    return 0;
  }
  if (err instanceof UsageError) {
    ctx.error(err.message);
    ctx.io.stderr.write(`Try '${PROGRAM} --help' for more information\n`);
    return 1;
  }
  if (err instanceof CommandError) {
    // An empty message means the details were printed already.
    if (err.message !== '') ctx.error(err.message);
    return err.exitCode;
  }
  const message = err instanceof Error ? err.message : String(err);
  ctx.error(message);
  return 1;
}
