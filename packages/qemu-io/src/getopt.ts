// GNU getopt_long as glibc behaves for qemu-io: options and operands may be
// mixed (operands are collected), "--" ends options, long options may be
// abbreviated to a unique prefix. Errors carry glibc's exact wording.

export interface LongOption {
  name: string;
  hasArg: boolean;
  /** The short letter (or a private key) reported for this option. */
  key: string;
  /** Matched only when spelled out in full (tsemu extensions must not make QEMU's prefixes ambiguous). */
  exactOnly?: boolean;
}

export interface ParsedOption {
  key: string;
  value?: string;
}

export type GetoptResult =
  | { ok: true; options: ParsedOption[]; operands: string[] }
  | { ok: false; error: string; options: ParsedOption[] };

interface ShortSpec {
  [letter: string]: boolean; // true = takes an argument
}

// Each command parses the same spec on every call; parse it once.
const specCache = new Map<string, ShortSpec>();

function parseShortSpec(spec: string): ShortSpec {
  const cached = specCache.get(spec);
  if (cached) return cached;
  const out: ShortSpec = Object.create(null) as ShortSpec;
  specCache.set(spec, out);
  for (let i = 0; i < spec.length; i++) {
    const c = spec[i];
    if (c === ':' || c === '+' || c === '-') continue;
    out[c] = spec[i + 1] === ':';
  }
  return out;
}

/**
 * Parses `args` from index `start` (past the program/command name) against
 * `shortSpec` ("hVc:f:") and `longs`. `start` spares a command a copy of its argv.
 */
export function getopt(
  prog: string, args: readonly string[], shortSpec: string, longs: readonly LongOption[] = [], start = 0,
): GetoptResult {
  const shorts = parseShortSpec(shortSpec);
  const options: ParsedOption[] = [];
  const operands: string[] = [];

  for (let i = start; i < args.length; i++) {
    const arg = args[i];
    if (arg === '--') {
      operands.push(...args.slice(i + 1));
      break;
    }
    if (arg.startsWith('--') && longs.length > 0) {
      const body = arg.slice(2);
      const eq = body.indexOf('=');
      const name = eq < 0 ? body : body.slice(0, eq);
      const found = matchLong(name, longs);
      if (found === undefined) return fail(prog, options, `unrecognized option '--${body}'`);
      if (Array.isArray(found)) {
        return fail(prog, options, `option '--${body}' is ambiguous; possibilities:${found.map((o) => ` '--${o.name}'`).join('')}`);
      }
      if (eq >= 0) {
        if (!found.hasArg) return fail(prog, options, `option '--${found.name}' doesn't allow an argument`);
        options.push({ key: found.key, value: body.slice(eq + 1) });
      } else if (found.hasArg) {
        if (i + 1 >= args.length) return fail(prog, options, `option '--${found.name}' requires an argument`);
        options.push({ key: found.key, value: args[++i] });
      } else {
        options.push({ key: found.key });
      }
      continue;
    }
    if (arg.length < 2 || arg[0] !== '-') {
      operands.push(arg);
      continue;
    }
    for (let j = 1; j < arg.length; j++) {
      const c = arg[j];
      const takesArg = shorts[c];
      if (takesArg === undefined || c === ':') return fail(prog, options, `invalid option -- '${c}'`);
      if (!takesArg) {
        options.push({ key: c });
        continue;
      }
      if (j + 1 < arg.length) {
        options.push({ key: c, value: arg.slice(j + 1) });
      } else if (i + 1 < args.length) {
        options.push({ key: c, value: args[++i] });
      } else {
        return fail(prog, options, `option requires an argument -- '${c}'`);
      }
      break;
    }
  }
  return { ok: true, options, operands };
}

function fail(prog: string, options: ParsedOption[], error: string): GetoptResult {
  return { ok: false, error: `${prog}: ${error}`, options };
}

function matchLong(name: string, longs: readonly LongOption[]): LongOption | LongOption[] | undefined {
  const exact = longs.find((o) => o.name === name);
  if (exact) return exact;
  const prefixed = longs.filter((o) => !o.exactOnly && o.name.startsWith(name));
  if (prefixed.length === 0) return undefined;
  if (prefixed.length === 1) return prefixed[0];
  // glibc: several matches that mean the same thing are not ambiguous.
  const first = prefixed[0];
  if (prefixed.every((o) => o.key === first.key && o.hasArg === first.hasArg)) return first;
  return prefixed;
}
