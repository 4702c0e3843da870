// The shape of a sub-command in the dispatch table.
import type { Context } from '../io.js';

export interface SubCommand {
  name: string;
  /** The "Command syntax" line of --help (without the leading two spaces). */
  syntax: string;
  /** Runs with the words after the sub-command name; resolves to the exit status. */
  run(ctx: Context, args: string[]): Promise<number>;
}
