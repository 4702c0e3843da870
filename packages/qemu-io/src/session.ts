// The state qemu-io keeps between commands (open image, outstanding aio,
// reusable buffers) and the dispatcher that runs one command line.
import { openImage, type BlockBackend, type OpenSpec } from '@tsemu/block-core';
import { getopt, type GetoptResult, type LongOption } from './getopt.js';
import { HELP } from './help-text.js';
import { cvtnum, cvtnumError, plainSize } from './numbers.js';
import type { Output } from './output.js';
import { BufferCache } from './buffers.js';
import { errorText } from './errors.js';
import type { OpenSettings } from './open-settings.js';

/** A command's result: 0, or a negative errno-like value that makes the exit status 1. */
export type Status = number;
export const EINVAL = -22;
export const EIO = -5;
export const ENOTSUP = -95;
const NO_LONGS: LongOption[] = [];


export interface Command {
  name: string;
  alt?: string;
  argmin: number;
  /** -1: no upper bound. */
  argmax: number;
  /** Runs without an open image. */
  global?: boolean;
  /** Needs write permission (refused up front on a read-only image). */
  write?: boolean;
  run(s: Session, argv: string[]): Status | Promise<Status>;
}

export interface PendingAio {
  done: Promise<void>;
  /** Prints the completion (report, pattern failure or error). */
  finish(): void;
}

export class Session {
  blk?: BlockBackend;
  /** How the open image was opened (reopen starts from it). */
  settings?: OpenSettings;
  quit = false;
  readonly buffers = new BufferCache();
  private pending: Array<{ req: PendingAio; settled: boolean }> = [];
  /** Interactive mode prints aio completions as they happen, -c mode when drained. */
  printAioAtCompletion = false;

  constructor(
    readonly io: Output,
    readonly commands: Map<string, Command>,
  ) {}

  out(text: string): void {
    this.io.out(text);
  }

  err(line: string): void {
    this.io.err(line);
  }

  /** block-core's warnings (the "probing guessed raw" lines) go to stderr as they are. */
  private readonly printWarning = (line: string): void => this.err(line);

  /** The synopsis line printed on a usage error ("read [-abCqv] ... -- reads ..."). */
  usage(name: string): Status {
    this.out(helpLine(name, name));
    return EINVAL;
  }

  /** getopt for a command; on a bad option prints glibc's message and the usage line. */
  getopt(argv: string[], spec: string): GetoptResult {
    const r = getopt(argv[0], argv, spec, NO_LONGS, 1);
    if (!r.ok) {
      this.err(r.error);
      this.usage(this.commands.get(argv[0])?.name ?? argv[0]);
    }
    return r;
  }

  /** cvtnum with qemu-io's messages; undefined after printing the error. */
  num(arg: string): number | undefined {
    const plain = plainSize(arg);
    if (plain >= 0) return plain;
    const r = cvtnum(arg);
    if (r.warning) this.err(r.warning);
    if (r.ok) return r.value;
    this.out(`${cvtnumError(r.error, arg)}\n`);
    return undefined;
  }

  addAio(req: PendingAio): void {
    const entry = { req, settled: false };
    void req.done.then(() => {
      entry.settled = true;
      if (!this.printAioAtCompletion) return;
      req.finish();
      this.io.flush(); // the user is looking at an idle prompt
    });
    this.pending.push(entry);
  }

  /** Prints the requests that have already completed (qemu-io's `sleep` runs the event loop). */
  reapCompletedAio(): void {
    if (this.printAioAtCompletion) return;
    const done = this.pending.filter((e) => e.settled);
    this.pending = this.pending.filter((e) => !e.settled);
    for (let i = done.length - 1; i >= 0; i--) done[i].req.finish();
  }

  /** Waits for every outstanding aio request and prints what -c mode holds back (latest first, as qemu's completion list). */
  async drainAio(): Promise<void> {
    while (this.pending.length > 0) {
      const batch = this.pending;
      this.pending = [];
      await Promise.all(batch.map((e) => e.req.done));
      if (!this.printAioAtCompletion) for (let i = batch.length - 1; i >= 0; i--) batch[i].req.finish();
    }
  }

  /** Opens the image; on failure prints "qemu-io: can't open device NAME: why" (or hands `why` to onError). */
  async open(spec: OpenSpec, onError?: (why: string) => void): Promise<Status> {
    try {
      this.blk = await openImage({ ...spec, onWarning: this.printWarning });
      return 0;
    } catch (e) {
      if (onError) return (onError(errorText(e, true)), EINVAL);
      const where = spec.filename !== undefined && !spec.imageOpts ? `can't open device ${spec.filename}` : "can't open";
      this.err(`qemu-io: ${where}: ${errorText(e, true)}`);
      return EINVAL;
    }
  }

  async close(): Promise<void> {
    await this.drainAio();
    const blk = this.blk;
    this.blk = undefined;
    await blk?.close();
  }

  /** Splits on single spaces (qemu-io's breakline) and runs the command. */
  async runLine(line: string): Promise<Status> {
    const words = line.split(' ');
    const argv = words.includes('') ? words.filter((w) => w !== '') : words;
    if (argv.length === 0) return 0;
    const cmd = this.commands.get(argv[0]);
    if (!cmd) {
      this.err(`command "${argv[0]}" not found`);
      return EINVAL;
    }
    if (!cmd.global && !this.blk) {
      this.err("no file open, try 'help open'");
      return EINVAL;
    }
    const argc = argv.length - 1;
    if (argc < cmd.argmin || (cmd.argmax !== -1 && argc > cmd.argmax)) {
      this.err(argCountError(argv[0], argc, cmd));
      return EINVAL;
    }
    if (cmd.write && this.blk?.readOnly) {
      this.err('qemu-io: Block node is read-only');
      return EINVAL;
    }
    return cmd.run(this, argv);
  }
}

function argCountError(name: string, argc: number, cmd: Command): string {
  const head = `bad argument count ${argc} to ${name}, expected`;
  if (cmd.argmax === -1) return `${head} at least ${cmd.argmin} arguments`;
  if (cmd.argmin === cmd.argmax) return `${head} ${cmd.argmin} arguments`;
  return `${head} between ${cmd.argmin} and ${cmd.argmax} arguments`;
}

/** "name args -- oneline\n" for command `name`, shown as `shown` (help prints the alias typed). */
export function helpLine(name: string, shown: string): string {
  const h = HELP[name];
  return `${shown}${h.args === undefined ? '' : ` ${h.args}`} -- ${h.oneline}\n`;
}
