// --object in qemu-img's sub-commands: each definition is made as getopt
// hands it over (QEMU processes it inside the option loop, so an earlier bad
// option still wins and a bad object stops the run before anything opens).
import { createUserObject, UserObjectError } from '@tsemu/block-drivers';
import { CommandError, PrintAndExit } from './io.js';

/** `failStatus`: the command's exit status for a bad definition (compare exits 2). */
export function defineObject(def: string, failStatus = 1): void {
  let help;
  try {
    help = createUserObject(def);
  } catch (err) {
    if (err instanceof UserObjectError) throw new CommandError(err.message, failStatus);
    throw err;
  }
  if (help) throw new PrintAndExit(help.help);
}
