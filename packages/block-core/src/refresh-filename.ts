// The name QEMU shows for a node once it has opened it (bdrv_refresh_filename),
// as qemu-img info prints it. A node that can be named by a file name (or its
// driver's own form, null-co://, blkdebug:config:image) is shown so; a format
// node shows its protocol child's name when it adds nothing that changes what
// the guest sees. Otherwise the name is `json:` and the node's options that
// matter: driver, strong options (BlockDriver.strongOptions) and children,
// keys in QEMU's QDict order, values as the user gave them.
import type { BlockNode } from './node.js';
import { jsonLiteral, JSON_NULL } from './options.js';
import { qdictOrder } from './util/qdict-order.js';

interface Refreshed {
  /** '' when the node can only be shown by its options. */
  exact: string;
  options: Record<string, unknown>;
}

/** What qemu-img info shows as the image name of `node`. */
export function refreshedFilename(node: BlockNode): string {
  const r = refresh(node);
  return r.exact !== '' ? r.exact : `json:${toJson(r.options)}`;
}

function refresh(node: BlockNode): Refreshed {
  const driver = node.driver;
  const children = new Map<string, Refreshed>();
  // The backing child is part of the name only when overridden; info opens none.
  for (const [role, child] of node.children) if (role !== 'backing') children.set(role, refresh(child));
  const strong = strongOptionsGiven(node);
  const options: Record<string, unknown> = { driver: driver.name };
  // A number or boolean a json: filename gave is shown as such again.
  for (const key of strong) {
    const literal = jsonLiteral(node.options, key);
    options[key] = literal === undefined ? node.options[key] : new JsonText(literal);
  }
  for (const [role, child] of children) options[role] = child.options;
  const childName = (role: string): string => children.get(role)?.exact ?? '';
  let exact: string;
  if (driver.exactFilename) exact = driver.exactFilename(node, strong, childName);
  else if (driver.kind === 'protocol') exact = strong.some((k) => k !== 'filename') ? '' : node.filename;
  else {
    // A format or filter over a protocol child, adding nothing strong: the child's name.
    const file = node.file;
    exact = strong.length === 0 && file !== undefined && file.driver.kind !== 'format' ? childName('file') : '';
  }
  return { exact, options };
}

/** The node's own (not its children's) strong options that were given, in the order given. */
function strongOptionsGiven(node: BlockNode): string[] {
  const list = node.driver.strongOptions ?? [];
  return Object.keys(node.options).filter((key) => node.options[key] !== JSON_NULL &&
    list.some((s) => (s.endsWith('.') ? key.startsWith(s) : key === s)));
}

/** JSON text printed as it is (a json: filename's number or boolean). */
class JsonText {
  constructor(readonly text: string) {}
}

/** QEMU's compact JSON (`{"a": "b", "c": {...}}`), keys in QDict order. */
function toJson(value: unknown): string {
  if (value instanceof JsonText) return value.text;
  if (value !== null && typeof value === 'object') {
    const o = value as Record<string, unknown>;
    return `{${qdictOrder(Object.keys(o)).map((k) => `${JSON.stringify(k)}: ${toJson(o[k])}`).join(', ')}}`;
  }
  return JSON.stringify(value);
}
