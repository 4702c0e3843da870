import { main } from '@tsemu/qemu-nbd';

// A closed stdout/stderr must not turn into a stack trace.
process.stdout.on('error', () => {});
process.stderr.on('error', () => {});

// Last resort: a failure outside main's own handling is still one line, no stack trace.
const die = (err: unknown): void => {
  process.stderr.write(`qemu-nbd: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
};
process.on('uncaughtException', die);
process.on('unhandledRejection', die);

// No top-level await: the built app is a CommonJS bundle (scripts/tsup-app.ts).
void main(process.argv.slice(2), {
  stdout: process.stdout,
  stderr: process.stderr,
  handleSignals: true,
  // --fork re-runs bin/tsemu-nbd.js (argv[1]) detached.
  forkCommand: [process.execPath, ...process.execArgv, process.argv[1]!],
}).then((code) => { process.exitCode = code; });
