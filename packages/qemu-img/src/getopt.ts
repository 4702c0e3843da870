// A getopt_long work-alike. qemu-img parses argv with glibc's getopt_long
// (permuting mode, leading ':' in the short spec), and its error messages
// quote argv[optind - 1], so the quirks of that index are reproduced here.

export type ArgMode = 'none' | 'required';

export interface LongOption {
  name: string;
  arg: ArgMode;
  /** The key reported for this option (a short letter or the long name). */
  key: string;
}

export interface ParsedOption {
  key: string;
  arg?: string;
}

export interface ParsedArgs {
  options: ParsedOption[];
  operands: string[];
  /**
   * With `glibcErrors`: glibc's own message for the first bad option
   * (`measure: invalid option -- 'Z'`); `options` then holds only the
   * options before it, which the command still acts on in order.
   */
  error?: string;
}

/** A command-line mistake: qemu-img prints it, then "Try 'qemu-img --help'...", exit 1. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

export interface GetoptSpec {
  /** Short options in getopt syntax, e.g. "hf:o:q" (':' = takes an argument). */
  short: string;
  long?: LongOption[];
  /** Stop at the first operand (getopt's '+'), as qemu-img's top level does. */
  stopAtOperand?: boolean;
  /**
   * The short spec has no leading ':' in qemu-img (measure): glibc prints its
   * own message and getopt returns '?', which that command answers with its
   * help text. Parsing stops there and `error` holds the message.
   */
  glibcErrors?: boolean;
}

/** A bad option: qemu-img's own wording (spec with ':') and glibc's (without). */
class BadOption extends Error {
  constructor(readonly qemu: string, readonly glibc: string) {
    super(qemu);
  }
}

function shortMode(spec: string, ch: string): ArgMode | undefined {
  if (ch === ':' || ch === '+') return undefined;
  const i = spec.indexOf(ch);
  if (i < 0) return undefined;
  return spec[i + 1] === ':' ? 'required' : 'none';
}

function findLong(list: LongOption[], name: string): LongOption | 'ambiguous' | undefined {
  const exact = list.find((o) => o.name === name);
  if (exact) return exact;
  const prefixed = list.filter((o) => o.name.startsWith(name));
  if (prefixed.length === 0) return undefined;
  const first = prefixed[0]!;
  // glibc only calls a prefix ambiguous when the candidates really differ.
  const same = prefixed.every((o) => o.key === first.key && o.arg === first.arg);
  return same ? first : 'ambiguous';
}

/**
 * Parses `args` (without the command name). `argv0` is what glibc would see
 * at argv[0] (the sub-command name), quoted by some error messages.
 */
export function getopt(argv0: string, args: readonly string[], spec: GetoptSpec): ParsedArgs {
  const options: ParsedOption[] = [];
  const operands: string[] = [];
  // Words as glibc's permuted argv holds them before the current word.
  const optionWords: string[] = [];
  const previousWord = (): string =>
    operands.length > 0 ? operands[operands.length - 1]! : optionWords.length > 0 ? optionWords[optionWords.length - 1]! : argv0;
  const long = spec.long ?? [];

  let i = 0;
  try {
    for (; i < args.length; i++) {
      const word = args[i]!;
      if (word === '--') {
        i++;
        break;
      }
      if (word.length < 2 || word[0] !== '-') {
        if (spec.stopAtOperand) break;
        operands.push(word);
        continue;
      }
      if (word.startsWith('--')) {
        const eq = word.indexOf('=');
        const name = word.slice(2, eq < 0 ? undefined : eq);
        const opt = findLong(long, name);
        if (opt === undefined) throw new BadOption(`unrecognized option '${word}'`, `unrecognized option '${word}'`);
        if (opt === 'ambiguous') {
          const names = long.filter((o) => o.name.startsWith(name)).map((o) => ` '--${o.name}'`).join('');
          throw new BadOption(`unrecognized option '${word}'`, `option '--${name}' is ambiguous; possibilities:${names}`);
        }
        optionWords.push(word);
        if (opt.arg === 'none') {
          if (eq >= 0) throw new BadOption(`unrecognized option '${word}'`, `option '--${opt.name}' doesn't allow an argument`);
          options.push({ key: opt.key });
        } else if (eq >= 0) {
          options.push({ key: opt.key, arg: word.slice(eq + 1) });
        } else {
          if (i + 1 >= args.length) throw new BadOption(`missing argument for option '${word}'`, `option '--${opt.name}' requires an argument`);
          const arg = args[++i]!;
          optionWords.push(arg);
          options.push({ key: opt.key, arg });
        }
        continue;
      }
      // A cluster of short options: "-fraw", "-qp", "-Sn 4k"...
      for (let j = 1; j < word.length; j++) {
        const ch = word[j]!;
        const last = j === word.length - 1;
        const mode = shortMode(spec.short, ch);
        if (mode === undefined) {
          // glibc only advances optind past the word when the bad letter ends it.
          throw new BadOption(`unrecognized option '${last ? word : previousWord()}'`, `invalid option -- '${ch}'`);
        }
        if (mode === 'none') {
          options.push({ key: ch });
          if (last) optionWords.push(word);
          continue;
        }
        if (!last) {
          options.push({ key: ch, arg: word.slice(j + 1) });
          optionWords.push(word);
        } else {
          if (i + 1 >= args.length) throw new BadOption(`missing argument for option '${word}'`, `option requires an argument -- '${ch}'`);
          const arg = args[++i]!;
          optionWords.push(word, arg);
          options.push({ key: ch, arg });
        }
        break;
      }
    }
  } catch (e) {
    if (!(e instanceof BadOption)) throw e;
    if (spec.glibcErrors) return { options, operands, error: `${argv0}: ${e.glibc}` };
    throw new UsageError(e.qemu);
  }
  for (; i < args.length; i++) operands.push(args[i]!);
  return { options, operands };
}
