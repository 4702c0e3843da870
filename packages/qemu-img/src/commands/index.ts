// The sub-command dispatch table. A format package adds its commands here
// (or replaces a placeholder) and they show up in --help automatically.
import { CommandError } from '../io.js';
import { amendCommand } from './amend.js';
import { benchCommand } from './bench.js';
import { bitmapCommand } from './bitmap.js';
import { checkCommand } from './check.js';
import type { SubCommand } from './command.js';
import { commitCommand } from './commit.js';
import { compareCommand } from './compare.js';
import { convertCommand } from './convert.js';
import { createCommand } from './create.js';
import { ddCommand } from './dd.js';
import { infoCommand } from './info.js';
import { mapCommand } from './map.js';
import { measureCommand } from './measure.js';
import { rebaseCommand } from './rebase.js';
import { resizeCommand } from './resize.js';
import { snapshotCommand } from './snapshot.js';

export type { SubCommand } from './command.js';

/** qemu-img commands this package does not implement yet: they fail cleanly. */
const NOT_YET: string[] = [];

function notYetSupported(name: string): SubCommand {
  return {
    name,
    syntax: '',
    run: () => Promise.reject(new CommandError(`Command not yet supported: ${name}`)),
  };
}

export const COMMANDS = new Map<string, SubCommand>();

export function registerCommand(cmd: SubCommand): void {
  COMMANDS.set(cmd.name, cmd);
}

for (const name of NOT_YET) registerCommand(notYetSupported(name));
for (const cmd of [amendCommand, benchCommand, bitmapCommand, checkCommand, commitCommand, compareCommand, convertCommand, createCommand, ddCommand, infoCommand, mapCommand, measureCommand, rebaseCommand, resizeCommand, snapshotCommand]) {
  registerCommand(cmd);
}
