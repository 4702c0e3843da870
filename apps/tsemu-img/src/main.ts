import { main } from '@tsemu/qemu-img';

// main's default streams are made on first use and ignore write errors (a
// closed or full stdout, | head, >/dev/full), as qemu-img does; touching
// process.stdout here would build it (~3 ms) for commands that print nothing.

// Last resort: a failure outside main's own handling is still one line, no stack trace.
const die = (err: unknown): void => {
  process.stderr.write(`qemu-img: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
};
process.on('uncaughtException', die);
process.on('unhandledRejection', die);

// No top-level await: the built app is a CommonJS bundle (scripts/tsup-app.ts).
void main(process.argv.slice(2)).then((code) => { process.exitCode = code; });
