// The ways parsing a qemu-nbd command line can end before serving.

/**
 * A bad command line; a message of several lines is printed as several `qemu-nbd:` lines,
 * except lines that start with NUL, printed as they are (qemu's hints and `qemu-nbd:FILE:` lines).
 */
export class CliError extends Error {}
/** Printed like a usage error, but qemu-nbd's own "Try" line has no program prefix. */
export class ArgumentCountError extends Error {}
export class HelpRequested extends Error {}
export class VersionRequested extends Error {}
/** --object help (the list of creatable object types) or TYPE,help (its options: `text`). */
export class ObjectHelpRequested extends Error {
  constructor(readonly text?: string) {
    super('object help');
  }
}
