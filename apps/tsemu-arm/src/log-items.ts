// `-d item[,item...]` as qemu-arm parses it: `help` or an item it does not
// know prints the list of items on stdout and fails (status 1). Items
// qemu-arm has that tsemu-arm does not implement are accepted with a warning,
// so a command line written for qemu-arm still runs the program.

/** tsemu-arm's items, in the order `-d help` lists them. */
const ITEMS: readonly [name: string, help: string][] = [
  ['op', 'show the optimised IR of each TB compiled to JavaScript'],
  ['js', 'show the generated JavaScript of each TB compiled to JavaScript'],
  ['unimp', 'log unimplemented functionality (undefined instructions)'],
  ['strace', 'log every user-mode syscall, its input, and its result'],
  ['stats', 'print instruction and TB counters and CPU time at exit'],
];

/** qemu-arm 7.2's other items (and `trace:PATTERN`): accepted, not implemented. */
const QEMU_ONLY = new Set(['out_asm', 'in_asm', 'op_opt', 'op_ind', 'int', 'exec', 'cpu', 'fpu', 'mmu', 'pcall', 'cpu_reset',
  'guest_errors', 'page', 'nochain', 'tid']);

export type LogItems = { list: false; items: Set<string>; ignored: string[] } | { list: true };

/** Parse one `-d` argument: the items set, those ignored, or a request for the list. */
export function parseLogItems(arg: string): LogItems {
  const items = new Set<string>(), ignored: string[] = [];
  for (const item of arg.split(',')) {
    if (ITEMS.some(([name]) => name === item)) items.add(item);
    else if (QEMU_ONLY.has(item) || item.startsWith('trace:')) ignored.push(item);
    else return { list: true };
  }
  return { list: false, items, ignored };
}

/** What `-d help` prints, in qemu-arm's layout. */
export function logItemsHelp(): string {
  return 'Log items (comma separated):\n' + ITEMS.map(([name, help]) => `${name.padEnd(15)} ${help}\n`).join('');
}
