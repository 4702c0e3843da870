// A small getopt_long work-alike (permuting, glued short arguments,
// --name=value and --name value, unique long prefixes) with glibc's messages.

export interface LongOption {
  name: string;
  hasArg: boolean;
  key: string;
}

export interface ParsedOption {
  key: string;
  arg?: string;
}

export class UsageError extends Error {}

/** Key of the entry that ends the list when a word is bad (glibc reports it only when reached). */
export const GETOPT_ERROR = '\0error';

export function getopt(args: readonly string[], short: string, long: readonly LongOption[]): { options: ParsedOption[]; operands: string[] } {
  const options: ParsedOption[] = [];
  const operands: string[] = [];
  try {
    scan(args, short, long, options, operands);
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    options.push({ key: GETOPT_ERROR, arg: err.message });
  }
  return { options, operands };
}

function scan(args: readonly string[], short: string, long: readonly LongOption[], options: ParsedOption[], operands: string[]): void {
  for (let i = 0; i < args.length; i++) {
    const word = args[i]!;
    if (word === '--') {
      operands.push(...args.slice(i + 1));
      break;
    }
    if (word.length < 2 || word[0] !== '-') {
      operands.push(word);
      continue;
    }
    if (word.startsWith('--')) {
      const eq = word.indexOf('=');
      const name = word.slice(2, eq < 0 ? undefined : eq);
      const exact = long.find((o) => o.name === name);
      const prefixed = long.filter((o) => o.name.startsWith(name));
      const opt = exact ?? (prefixed.length === 1 ? prefixed[0] : undefined);
      if (!opt) {
        // glibc lists the candidates in the table's order.
        const names = prefixed.map((o) => `'--${o.name}'`).join(' ');
        throw new UsageError(prefixed.length > 1 ? `option '${word}' is ambiguous; possibilities: ${names}` : `unrecognized option '${word}'`);
      }
      if (!opt.hasArg) {
        if (eq >= 0) throw new UsageError(`option '--${opt.name}' doesn't allow an argument`);
        options.push({ key: opt.key });
      } else if (eq >= 0) {
        options.push({ key: opt.key, arg: word.slice(eq + 1) });
      } else {
        if (i + 1 >= args.length) throw new UsageError(`option '--${opt.name}' requires an argument`);
        options.push({ key: opt.key, arg: args[++i]! });
      }
      continue;
    }
    for (let j = 1; j < word.length; j++) {
      const ch = word[j]!;
      const at = ch === ':' ? -1 : short.indexOf(ch);
      if (at < 0) throw new UsageError(`invalid option -- '${ch}'`);
      if (short[at + 1] !== ':') {
        options.push({ key: ch });
        continue;
      }
      if (j + 1 < word.length) options.push({ key: ch, arg: word.slice(j + 1) });
      else if (i + 1 < args.length) options.push({ key: ch, arg: args[++i]! });
      else throw new UsageError(`option requires an argument -- '${ch}'`);
      break;
    }
  }
}
