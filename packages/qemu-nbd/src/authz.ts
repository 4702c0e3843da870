// QEMU's authorization objects, as qemu-nbd 7.2 builds them from --object:
// authz-simple (one identity, matched exactly) and authz-list (rules tried in
// order, `exact` or `glob` matching, then the default policy). The server
// asks one of them about a TLS client's identity (the x509 certificate's
// distinguished name). authz-listfile and authz-pam are not built into
// qemu-nbd 7.2, which refuses them; so does tsemu-nbd.

/** A bad authz --object: printed as one qemu-nbd: line. */
export class AuthzError extends Error {}

export interface NbdAuthz {
  readonly id: string;
  isAllowed(identity: string): boolean;
}

type Policy = 'allow' | 'deny';

interface ListRule {
  match: string;
  policy: Policy;
  glob: boolean;
}

const NOT_IN_QEMU_NBD = new Set(['authz-listfile', 'authz-pam']);

export function isAuthzType(type: string): boolean {
  return type === 'authz-simple' || type === 'authz-list' || NOT_IN_QEMU_NBD.has(type);
}

/** Builds an authz object from parsed --object options, with qemu-nbd's messages. */
export function parseAuthzObject(o: Record<string, string>): NbdAuthz {
  const type = o['qom-type']!;
  if (NOT_IN_QEMU_NBD.has(type)) throw new AuthzError(`invalid object type: ${type}`);
  const id = o.id;
  if (!id) throw new AuthzError("Parameter 'id' is missing");
  if (type === 'authz-simple') {
    unexpected(o, (k) => k === 'identity');
    const identity = o.identity;
    if (identity === undefined) throw new AuthzError("Parameter 'identity' is missing");
    return { id, isAllowed: (who) => who === identity };
  }
  unexpected(o, (k) => k === 'policy' || /^rules\.\d+\.(match|policy|format)$/.test(k));
  const fallback = policyValue('policy', o.policy ?? 'deny');
  const rules = parseRules(o);
  return {
    id,
    isAllowed: (who) => {
      for (const r of rules) {
        if (r.glob ? globMatch(r.match, who) : r.match === who) return r.policy === 'allow';
      }
      return fallback === 'allow';
    },
  };
}

function unexpected(o: Record<string, string>, known: (key: string) => boolean): void {
  for (const k of Object.keys(o)) {
    if (k !== 'qom-type' && k !== 'id' && !known(k)) throw new AuthzError(`Parameter '${k}' is unexpected`);
  }
}

function policyValue(name: string, value: string): Policy {
  if (value !== 'allow' && value !== 'deny') throw new AuthzError(`Parameter '${name}' does not accept value '${value}'`);
  return value;
}

/** rules.0.*, rules.1.*, ... : indices must run from 0 without gaps, as QEMU's list visitor wants. */
function parseRules(o: Record<string, string>): ListRule[] {
  let count = 0;
  for (const k of Object.keys(o)) {
    const m = /^rules\.(\d+)\./.exec(k);
    if (m) count = Math.max(count, Number(m[1]) + 1);
  }
  const rules: ListRule[] = [];
  for (let i = 0; i < count; i++) {
    const p = `rules.${i}.`;
    if (!Object.keys(o).some((k) => k.startsWith(p))) throw new AuthzError(`Parameter 'rules.${i}' missing`);
    const match = o[`${p}match`];
    if (match === undefined) throw new AuthzError(`Parameter '${p}match' is missing`);
    const policy = o[`${p}policy`];
    if (policy === undefined) throw new AuthzError(`Parameter '${p}policy' is missing`);
    const format = o[`${p}format`] ?? 'exact';
    if (format !== 'exact' && format !== 'glob') throw new AuthzError(`Parameter 'format' does not accept value '${format}'`);
    rules.push({ match, policy: policyValue('policy', policy), glob: format === 'glob' });
  }
  return rules;
}

/**
 * Shell-style matching of the whole string (fnmatch without flags): `*`
 * any run, `?` one character, `[...]` a set (`!` or `^` negates, `a-z`
 * ranges), `\` quotes the next character.
 */
export function globMatch(pattern: string, text: string): boolean {
  // Iterative with one backtrack point for the last `*`: linear in practice, no recursion.
  let p = 0;
  let t = 0;
  let starP = -1;
  let starT = 0;
  while (t < text.length) {
    const step = p < pattern.length ? matchOne(pattern, p, text[t]!) : -1;
    if (p < pattern.length && pattern[p] === '*') {
      starP = ++p;
      starT = t;
    } else if (step > 0) {
      p = step;
      t++;
    } else if (starP >= 0) {
      p = starP;
      t = ++starT;
    } else {
      return false;
    }
  }
  while (p < pattern.length && pattern[p] === '*') p++;
  return p === pattern.length;
}

/** If pattern[p] (not `*`) matches c, the index after that pattern element; else -1. */
function matchOne(pattern: string, p: number, c: string): number {
  const ch = pattern[p]!;
  if (ch === '?') return p + 1;
  if (ch === '\\' && p + 1 < pattern.length) return pattern[p + 1] === c ? p + 2 : -1;
  if (ch === '[') {
    let i = p + 1;
    const negate = pattern[i] === '!' || pattern[i] === '^';
    if (negate) i++;
    let hit = false;
    let first = true;
    while (i < pattern.length && (first || pattern[i] !== ']')) {
      first = false;
      let lo = pattern[i]!;
      if (lo === '\\' && i + 1 < pattern.length) lo = pattern[++i]!;
      if (pattern[i + 1] === '-' && i + 2 < pattern.length && pattern[i + 2] !== ']') {
        const hi = pattern[i + 2]!;
        if (c >= lo && c <= hi) hit = true;
        i += 3;
      } else {
        if (c === lo) hit = true;
        i++;
      }
    }
    // No closing bracket: `[` is an ordinary character.
    if (i >= pattern.length) return c === '[' ? p + 1 : -1;
    return hit !== negate ? i + 1 : -1;
  }
  return ch === c ? p + 1 : -1;
}
