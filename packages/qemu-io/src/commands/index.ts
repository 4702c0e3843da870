// The command table, looked up by name or one-letter alias.
import type { Command } from '../session.js';
import { aioCommands } from './aio.js';
import { controlCommands } from './control.js';
import { imageCommands } from './image.js';
import { readCommands } from './read.js';
import { writeCommands } from './write.js';

export function commandTable(): Map<string, Command> {
  const table = new Map<string, Command>();
  for (const cmd of [...readCommands, ...writeCommands, ...aioCommands, ...imageCommands, ...controlCommands]) {
    table.set(cmd.name, cmd);
    if (cmd.alt) table.set(cmd.alt, cmd);
  }
  return table;
}
