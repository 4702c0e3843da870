// @tsemu/qemu-io: qemu-io 7.2's command language as a library.
// main(argv) behaves as the qemu-io program and returns its exit status.
import { commandTable } from './commands/index.js';
import { openWithSettings } from './open-settings.js';
import { parseCommandLine } from './options.js';
import { Output, type IoStreams } from './output.js';
import { Session } from './session.js';
import { readLines } from './lines.js';
import { registerAllDrivers, resetUserObjects } from '@tsemu/block-drivers';

export type { IoStreams, TextSink } from './output.js';
export { parseCommandLine, USAGE_TEXT, VERSION, VERSION_TEXT } from './options.js';
export { cvtnum, parsePattern, MAX_REQUEST_BYTES } from './numbers.js';
export { cFixed, cvtstr, timestr, formatReport, hexDump } from './format.js';
export { getopt } from './getopt.js';
export { Session } from './session.js';
export { Output } from './output.js';
export { commandTable } from './commands/index.js';

const PROMPT = 'qemu-io> ';
let brokenPipeQuiet = false;

export async function main(argv: string[], io?: IoStreams): Promise<number> {
  registerAllDrivers();
  if (!io) {
    // A reader that goes away (`| head`) ends the output, not the program with a stack trace; qemu-io ignores it too.
    if (!brokenPipeQuiet) for (const stream of [process.stdout, process.stderr]) stream.on('error', () => {});
    brokenPipeQuiet = true;
  }
  const streams: IoStreams = io ?? { stdout: process.stdout, stderr: process.stderr, stdin: process.stdin };
  const out = new Output(streams);
  resetUserObjects(); // --object definitions belong to one invocation
  const cmdline = parseCommandLine(argv, (text) => void streams.stderr.write(text));
  if (cmdline.kind === 'exit') {
    if (cmdline.stderr) streams.stderr.write(cmdline.stderr);
    if (cmdline.stdout) streams.stdout.write(cmdline.stdout);
    return cmdline.code;
  }
  const s = new Session(out, commandTable());
  let failed = false;
  try {
    if (cmdline.settings.filename !== undefined && (await openWithSettings(s, cmdline.settings)) !== 0) return 1;
    if (cmdline.commands.length > 0) {
      for (const line of cmdline.commands) {
        if ((await s.runLine(line)) < 0) failed = true;
        if (s.quit) break;
      }
    } else {
      failed = await interactive(s, streams);
    }
    await s.close();
  } catch (e) {
    // A bug, not an I/O error: say so in one line rather than a stack trace.
    out.err(`qemu-io: internal error: ${e instanceof Error ? e.message : String(e)}`);
    failed = true;
  } finally {
    out.flush();
  }
  return failed ? 1 : 0;
}

/** Reads commands from stdin after a "qemu-io> " prompt until EOF or quit. */
async function interactive(s: Session, streams: IoStreams): Promise<boolean> {
  s.printAioAtCompletion = true;
  let failed = false;
  s.out(PROMPT);
  s.io.flush();
  for await (const line of readLines(streams.stdin ?? process.stdin)) {
    if ((await s.runLine(line)) < 0) failed = true;
    if (s.quit) break;
    s.out(PROMPT);
    s.io.flush();
  }
  return failed;
}
