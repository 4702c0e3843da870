// Opening a node graph from a filename and/or flat options: json: and
// --image-opts syntax, protocol prefixes, format probing with QEMU's
// "probing guessed raw" warning, child nodes (file, backing, image) with
// inherited read-only/cache/discard settings, and unknown-option checks.
import { childRequest, rootRequest, PERM_CONSISTENT_READ, PERM_RESIZE, PERM_WRITE, type PermRequest } from './perm.js';
import { dirname, isAbsolute, join } from 'node:path';
import { parseCacheMode, type CacheFlags } from './cache.js';
import type { BlockDriver, BlockOptions, OpenContext } from './driver.js';
import { BlockError } from './errors.js';
import { BlockBackend } from './backend.js';
import { BlockNode, type DetectZeroes } from './node.js';
import { carryJsonLiterals, childOptions, hasChildOptions, JSON_NULL, parseBool, parseJsonFilename } from './options.js';
import { findDriver, findProtocolDriver, probeFormat } from './registry.js';
import { parseOptionString, qdictOrder, warnReport } from './util/index.js';
import { createImage } from './create.js';
import { rmSync } from 'node:fs';
import { createTemporaryFile } from './temporary-file.js';
import { lookupSecret } from './secrets.js';

export interface OpenSpec {
  filename?: string;
  format?: string;
  options?: BlockOptions;
  imageOpts?: boolean;
  readOnly?: boolean;
  cache?: string | CacheFlags;
  discard?: 'ignore' | 'unmap';
  detectZeroes?: 'off' | 'on' | 'unmap';
  noBacking?: boolean;
  /** -U: take no lock that denies others anything (read-only opens). */
  forceShare?: boolean;
  /** QEMU's BDRV_O_NO_IO (qemu-img info): no data is read, so no consistent-read permission is locked. */
  noIo?: boolean;
  /** QEMU's BDRV_O_RESIZE (qemu-img resize): the top node also locks the resize permission. */
  resize?: boolean;
  /**
   * The caller serves one client from this event loop (qemu-io, qemu-img), so
   * small buffered writes may be done synchronously: a few microseconds of
   * blocking instead of a thread-pool round trip. Servers (qemu-nbd) leave it
   * off. Durability is unchanged; see the file driver's `syncWrites`.
   */
  singleClient?: boolean;
  /**
   * Opened by `check` (QEMU's BDRV_O_CHECK): format drivers must not repair
   * anything on their own at open (a dirty lazy-refcounts image), so the
   * check sees, reports and repairs the damage itself.
   */
  forCheck?: boolean;
  onWarning?: (line: string) => void;
  /**
   * --image-opts as qemu-img parses it: a first element without '=' names a
   * node to use (QEMU's implied "file" reference); tsemu has no named nodes,
   * so it is "Cannot find device=... nor node-name=...". qemu-io takes it as a
   * short-form boolean instead.
   */
  imageOptsReference?: boolean;
  /** QEMU's option-parsing warnings (a short-form boolean), one line per call. */
  onOptionWarning?: (line: string) => void;
  /**
   * A driver's warn_report at open (qcow2's bitmap warnings): the tool writes
   * `<prog>: warning: ` and the text to stderr as it is (the text carries its
   * own line breaks). Without it drivers write to process.stderr themselves.
   */
  onWarnReport?: (text: string) => void;
  /**
   * QEMU's snapshot=on (qemu-io -s, qemu-nbd -s): the image is opened
   * read-only below a temporary qcow2 overlay that takes the writes and is
   * deleted at close.
   */
  snapshot?: boolean;
  /**
   * QEMU's BDRV_O_COPY_ON_READ (qemu-io -C): reads of what the top node does
   * not allocate itself are written into it (see BlockNode.enableCopyOnRead).
   */
  copyOnRead?: boolean;
}

/** Settings a node passes on to the children it opens. */
interface Inherited {
  readOnly: boolean;
  cache: CacheFlags;
  unmap: boolean;
  noBacking: boolean;
  singleClient: boolean;
  forCheck: boolean;
  noIo?: boolean;
  onWarning?: (line: string) => void;
  onWarnReport?: (text: string) => void;
  /** What the parent (or the tool) asks of the node being opened; see perm.ts. */
  request: PermRequest;
  forceShare: boolean;
  /** The top node copies on read (never passed to children). */
  copyOnRead?: boolean;
}

/** Options every node accepts whatever its driver. */
const GENERIC_OPTIONS = new Set([
  'driver', 'node-name', 'read-only', 'auto-read-only', 'force-share', 'discard', 'detect-zeroes',
  'cache.direct', 'cache.no-flush', 'cache.writeback', 'filename',
]);

/** 'image' opens an image (probe when no driver); 'protocol' opens what a filename names, without probing. */
type OpenMode = 'image' | 'protocol';

export async function openImage(spec: OpenSpec): Promise<BlockBackend> {
  // QEMU checks it at the first node it opens, before any file is touched; under
  // snapshot=on that node is the image, opened read-only below the overlay.
  if (spec.forceShare && !spec.readOnly && !spec.snapshot) throw forceShareNeedsReadOnly();
  if (spec.snapshot) return openWithTemporaryOverlay(spec);
  const cache = typeof spec.cache === 'string' ? parseCacheMode(spec.cache)
    : spec.cache ? { ...spec.cache } : parseCacheMode('writeback');
  let opts: BlockOptions = {};
  let filename = spec.filename;
  if (spec.imageOpts) {
    const shortBoolean = (name: string): void =>
      spec.onOptionWarning?.(`warning: short-form boolean option '${name}' deprecated\nPlease use ${name}=on instead`);
    opts = parseOptionString(filename ?? '', spec.imageOptsReference ? ' reference' : undefined, shortBoolean);
    const reference = opts[' reference'];
    if (reference !== undefined) throw new BlockError('ENOENT', `Cannot find device='${reference}' nor node-name='${reference}'`);
    filename = undefined;
  } else if (filename?.startsWith('json:')) {
    opts = parseJsonFilename(filename);
    filename = undefined;
  }
  Object.assign(opts, spec.options);
  if (spec.format !== undefined) opts.driver = spec.format;
  // force-share=on among the options asks what -U asks, and also needs a read-only node (read-only=off says otherwise).
  const forceShare = spec.forceShare === true || parseBool('force-share', opts['force-share'], false);
  if (forceShare && !parseBool('read-only', opts['read-only'], spec.readOnly === true)) throw forceShareNeedsReadOnly();
  // Top-level cache.* options (--image-opts) override the mode's flags for the whole graph.
  cache.writeback = parseBool('cache.writeback', opts['cache.writeback'], cache.writeback);
  cache.direct = parseBool('cache.direct', opts['cache.direct'], cache.direct);
  cache.noFlush = parseBool('cache.no-flush', opts['cache.no-flush'], cache.noFlush);
  if (spec.detectZeroes !== undefined) opts['detect-zeroes'] ??= spec.detectZeroes;
  const discard = opts.discard ?? spec.discard ?? 'ignore';
  const inherited: Inherited = {
    readOnly: spec.readOnly === true,
    cache,
    unmap: parseDiscard(discard),
    noBacking: spec.noBacking === true,
    singleClient: spec.singleClient === true,
    forCheck: spec.forCheck === true,
    noIo: spec.noIo === true,
    onWarning: spec.onWarning,
    onWarnReport: spec.onWarnReport,
    request: rootRequest(spec.readOnly === true, spec.noIo === true, spec.resize === true),
    forceShare,
    copyOnRead: spec.copyOnRead === true,
  };
  if (opts['detect-zeroes'] === 'unmap' && !inherited.unmap) {
    throw new BlockError('EINVAL', 'setting detect-zeroes to unmap is not allowed without setting discard operation to unmap');
  }
  const root = await openNode(opts, filename, inherited, 'image', true);
  try {
    return new BlockBackend(root, await root.getLength(), cache);
  } catch (err) {
    await root.close();
    throw err;
  }
}

/**
 * snapshot=on, as QEMU's bdrv_append_temp_snapshot: the image read-only, a new
 * qcow2 of its size in a temporary file (no backing name in its header) with
 * the image's node attached as its backing, and the overlay on top. The file
 * is unlinked once open, as QEMU does (a reopen by its name then fails).
 */
async function openWithTemporaryOverlay(spec: OpenSpec): Promise<BlockBackend> {
  const base = await openImage({ ...spec, snapshot: false, readOnly: true, copyOnRead: false });
  let path: string | undefined;
  let overlay: BlockNode | undefined;
  try {
    path = createTemporaryFile();
    await createImage({ filename: path, format: 'qcow2', size: await base.getLength() });
    const cache = base.root.cache;
    const inherited: Inherited = {
      readOnly: spec.readOnly === true, cache: { ...cache }, unmap: parseDiscard(spec.discard ?? 'ignore'),
      noBacking: false, singleClient: spec.singleClient === true, forCheck: false,
      request: rootRequest(spec.readOnly === true, false, false), forceShare: false,
      copyOnRead: spec.copyOnRead === true, // the overlay takes the copies (qemu-io -s -C)
    };
    // The backing child is attached already; the key only tells qcow2 there is one.
    const opts: BlockOptions = { driver: 'qcow2', 'file.filename': path, backing: base.root.filename || 'base' };
    if (spec.detectZeroes !== undefined) opts['detect-zeroes'] = spec.detectZeroes;
    overlay = await openNode(opts, undefined, inherited, 'image', true, undefined, base.root);
    return new BlockBackend(overlay, await overlay.getLength(), cache);
  } catch (err) {
    if (overlay) await overlay.close().catch(() => {});
    else await base.close().catch(() => {});
    throw err;
  } finally {
    if (path !== undefined) rmSync(path, { force: true });
  }
}

function parseDiscard(text: string): boolean {
  if (text === 'unmap' || text === 'on') return true;
  if (text === 'ignore' || text === 'off') return false;
  throw new BlockError('EINVAL', 'Invalid discard option');
}

function parseDetectZeroes(text: string | undefined): DetectZeroes {
  if (text === undefined) return 'off';
  if (text === 'off' || text === 'on' || text === 'unmap') return text;
  throw new BlockError('EINVAL', `invalid parameter value: ${text}`);
}

function forceShareNeedsReadOnly(): BlockError {
  return new BlockError('EINVAL', 'force-share=on can only be used with read-only images');
}

/** QEMU's node names: a letter, then letters, digits, '-', '.' or '_'; at most 31 characters. */
function checkNodeName(name: string | undefined): void {
  if (name === undefined) return;
  if (!/^[A-Za-z][A-Za-z0-9._-]*$/.test(name)) throw new BlockError('EINVAL', `Invalid node-name: '${name}'`);
  if (name.length > 31) throw new BlockError('EINVAL', 'Node name too long');
}

function requireDriver(name: string): BlockDriver {
  const driver = findDriver(name);
  if (!driver) throw new BlockError('EINVAL', `Unknown driver '${name}'`);
  return driver;
}

/** Driver for a bare filename in protocol mode: by prefix, else the host file. */
function protocolFor(filename: string): BlockDriver {
  return findProtocolDriver(filename) ?? requireDriver('file');
}

/**
 * Opens one node (and, through the driver, its children). `filename` is what
 * the user typed; `opts` are this node's own flat options (children's under
 * their role prefix).
 */
async function openNode(
  opts: BlockOptions, filename: string | undefined, inherited: Inherited, mode: OpenMode, top = false,
  preopenedFile?: BlockNode, attachedBacking?: BlockNode,
): Promise<BlockNode> {
  if (opts.backing === '') {
    // QEMU's bdrv_open_inherit, before anything of the node is opened.
    warnReport(inherited.onWarnReport, 'Use of "backing": "" is deprecated; use "backing": null instead\n');
    const before = opts;
    opts = { ...opts, backing: JSON_NULL };
    carryJsonLiterals(before, opts);
  }
  let driverName = opts.driver;
  const name = filename ?? opts.filename;
  if (driverName === undefined && mode === 'image') {
    return probeAndOpen(opts, name, inherited, top);
  }
  if (driverName === undefined) {
    if (name === undefined) throw new BlockError('EINVAL', 'A block device must be specified for "file"');
    driverName = protocolFor(name).name;
  }
  const driver = requireDriver(driverName);
  let nodeOpts = opts;
  if (driver.kind !== 'format' && name !== undefined && !('filename' in opts)) {
    // A protocol filename carries options ("nbd://h:p/x" -> host, port, export).
    nodeOpts = { ...(driver.parseFilename ? driver.parseFilename(name) : { filename: name }), ...opts };
    carryJsonLiterals(opts, nodeOpts);
  }
  // As QEMU's bdrv_open_common: typed values first, then node-name, discard and detect-zeroes.
  const readOnly = parseBool('read-only', opts['read-only'], false) || inherited.readOnly;
  parseBool('auto-read-only', opts['auto-read-only'], false);
  parseBool('force-share', opts['force-share'], false);
  checkNodeName(opts['node-name']);
  const cache: CacheFlags = {
    writeback: inherited.cache.writeback,
    direct: parseBool('cache.direct', opts['cache.direct'], inherited.cache.direct),
    noFlush: parseBool('cache.no-flush', opts['cache.no-flush'], inherited.cache.noFlush),
  };
  const unmap = opts.discard !== undefined ? parseDiscard(opts.discard) : inherited.unmap;
  const detectZeroes = parseDetectZeroes(opts['detect-zeroes']);
  const node = new BlockNode({
    driver, filename: name ?? '', options: nodeOpts, readOnly, cache, unmap, detectZeroes: top ? detectZeroes : 'off',
  });
  // An already open node as the backing child (snapshot=on): the driver's openChild('backing') finds it.
  if (attachedBacking) node.children.set('backing', attachedBacking);
  // A read-only node (read-only=on below a writable parent) asks for nothing it cannot use.
  const request = readOnly ? { perm: inherited.request.perm & PERM_CONSISTENT_READ, deny: inherited.request.deny } : inherited.request;
  // As QEMU's bdrv_inherited_options: children default to discard=unmap whatever
  // the parent says (a parent's discard mode already decides what it passes down).
  const childInherited: Inherited = { ...inherited, readOnly, cache, unmap: true, copyOnRead: false };
  // As QEMU's bdrv_open_common, before the driver opens (a format's file child is already open then).
  const copyOnRead = top && inherited.copyOnRead === true;
  const checkCopyOnRead = (): void => {
    if (copyOnRead && readOnly) throw new BlockError('EINVAL', "Can't use copy-on-read on read-only device");
  };
  const noBacking = inherited.noBacking || opts.backing === JSON_NULL;
  const ctx: OpenContext = {
    node, options: nodeOpts, readOnly, cache, noBacking, singleClient: inherited.singleClient, forCheck: inherited.forCheck, noIo: inherited.noIo,
    perm: request,
    warnReport: inherited.onWarnReport,
    secret: lookupSecret,
    openChild: (role, fallbackFilename, fallbackFormat) => {
      const childRequestFor = (childReadOnly: boolean): PermRequest =>
        childRequest(driver, role, request, childReadOnly, inherited.forceShare);
      if (role === 'file' && preopenedFile && !node.children.has('file')) {
        // The probed file was opened before its format was known: now it learns what the format needs.
        preopenedFile.state.setPermissions?.(childRequestFor(preopenedFile.readOnly));
        node.children.set('file', preopenedFile);
        checkCopyOnRead();
        return Promise.resolve(preopenedFile);
      }
      const inheritedForRole = { ...childInherited, request: childRequestFor(role === 'backing' || readOnly) };
      const child = openChild(node, role, fallbackFilename ?? (role === 'file' ? name : undefined), fallbackFormat, inheritedForRole);
      return role === 'file' ? child.then((c) => (checkCopyOnRead(), c)) : child;
    },
  };
  try {
    if (driver.kind !== 'format') checkCopyOnRead();
    node.attach(await driver.open(ctx));
    checkCopyOnRead(); // a format that opened no file child
    if (copyOnRead) node.enableCopyOnRead();
    // A format opened by the same name as its protocol child shows the child's
    // canonical name ("nbd+unix:///?socket=s" -> "nbd+unix://?socket=s"), as QEMU refreshes it.
    if (!node.filename || (node.file && node.filename === name)) {
      node.filename = node.file?.filename ?? node.children.get('image')?.filename ?? node.filename ?? '';
    }
    if (!inherited.noBacking && wantsBacking(opts) && driver.kind === 'format' && !driver.supports?.backing) {
      throw new BlockError('EINVAL', "Driver doesn't support backing files");
    }
    checkUnknownOptions(node, inherited.noBacking);
  } catch (err) {
    await node.close().catch(() => {});
    if (preopenedFile && !node.children.has('file')) await preopenedFile.close().catch(() => {});
    throw err;
  }
  return node;
}

/** No driver given: open what the filename names, sniff its header, put the best format on top. */
async function probeAndOpen(opts: BlockOptions, name: string | undefined, inherited: Inherited, top: boolean): Promise<BlockNode> {
  let protoOpts: BlockOptions;
  let protoName: string | undefined;
  const formatOpts: BlockOptions = {};
  if (opts.file !== undefined) throw unknownReference(opts.file);
  if (hasChildOptions(opts, 'file')) {
    protoOpts = childOptions(opts, 'file');
    // Settings for the file child (file.aio=...) next to a plain filename: the filename is still the file's.
    protoName = protoOpts.filename === undefined ? name : undefined;
  } else {
    if (name === undefined) throw new BlockError('EINVAL', 'Must specify either driver or file');
    protoOpts = {};
    protoName = name;
  }
  // Everything but the file child's settings belongs to the format node, which
  // refuses what its driver does not know ("Block format 'qcow2' does not
  // support the option 'foo'") and takes its runtime options (l2-cache-size).
  for (const key in opts) if (key !== 'filename' && key !== 'file' && !key.startsWith('file.')) formatOpts[key] = opts[key];
  carryJsonLiterals(opts, formatOpts);
  // The protocol node is the format's file child: QEMU's child default discard=unmap.
  const proto = await openNode(protoOpts, protoName, { ...inherited, unmap: true }, 'protocol');
  let format: BlockDriver;
  try {
    const len = Math.min(512, await proto.getLength());
    const header = new Uint8Array(len);
    if (len > 0) await proto.read(0, header);
    format = probeFormat(header, proto.filename)?.driver ?? requireDriver('raw');
  } catch (err) {
    await proto.close().catch(() => {});
    throw err;
  }
  const probedRaw = format.name === 'raw';
  // QEMU warns only when the node is writable: the restriction it announces guards writes.
  if (probedRaw && top && !inherited.readOnly && inherited.onWarning) {
    inherited.onWarning(`WARNING: Image format was not specified for '${proto.filename}' and probing guessed raw.`);
    inherited.onWarning('         Automatically detecting the format is dangerous for raw images, write operations on block 0 will be restricted.');
    inherited.onWarning("         Specify the 'raw' format explicitly to remove the restrictions.");
  }
  formatOpts.driver = format.name;
  const node = await openNode(formatOpts, proto.filename, inherited, 'image', top, proto);
  node.probed = probedRaw;
  return node;
}

async function openChild(
  parent: BlockNode, role: string, fallbackFilename: string | undefined, fallbackFormat: string | undefined, inherited: Inherited,
): Promise<BlockNode> {
  const existing = parent.children.get(role);
  if (existing) return existing;
  const opts = childOptions(parent.options, role);
  const reference = parent.options[role];
  let name: string | undefined = opts.filename ?? fallbackFilename;
  if (reference === JSON_NULL) name = undefined;
  else if (reference !== undefined) {
    // A string names an existing node (QEMU's child reference), never a file; tsemu names no nodes.
    const err = unknownReference(reference);
    throw role === 'backing' ? new BlockError(err.code, `Could not open backing file: ${err.message}`) : err;
  }
  if (!Object.keys(opts).length && name === undefined) {
    throw new BlockError('EINVAL', `A block device must be specified for "${role}"`);
  }
  let mode: OpenMode = 'protocol';
  let childInherited = inherited;
  if (role === 'backing') {
    if (fallbackFilename !== undefined) parent.backingFile ??= fallbackFilename;
    if (fallbackFormat !== undefined) parent.backingFormat ??= fallbackFormat;
    if (name !== undefined && !isAbsolute(name) && !findProtocolDriver(name) && !name.startsWith('json:') && isPlainPath(parent.filename)) {
      name = join(dirname(parent.filename), name); // relative stays relative, as QEMU prints it
    }
    if (opts.driver === undefined && fallbackFormat !== undefined) opts.driver = fallbackFormat;
    mode = 'image';
    childInherited = { ...inherited, readOnly: true, onWarning: undefined };
  }
  let childOpts = opts;
  if (name?.startsWith('json:')) {
    childOpts = { ...parseJsonFilename(name), ...opts };
    name = undefined;
  }
  let child: BlockNode;
  try {
    child = await openNode(childOpts, name, childInherited, mode);
  } catch (err) {
    if (role === 'backing' && err instanceof BlockError) throw new BlockError(err.code, `Could not open backing file: ${err.message}`);
    throw err;
  }
  parent.children.set(role, child);
  return child;
}

function isPlainPath(filename: string): boolean {
  return filename !== '' && !filename.startsWith('json:') && findProtocolDriver(filename) === undefined;
}

/** Backing options other than `backing: null`. */
function wantsBacking(opts: BlockOptions): boolean {
  return (opts.backing !== undefined && opts.backing !== JSON_NULL) || hasChildOptions(opts, 'backing');
}

function unknownReference(name: string): BlockError {
  return new BlockError('ENOENT', `Cannot find device='${name}' nor node-name='${name}'`);
}

/**
 * Options left over once the driver and its children took theirs. Opened
 * without a backing chain (QEMU's BDRV_O_NO_BACKING: qemu-img info, rebase -u),
 * backing options are left over too, except `backing: null`. Of several, QEMU
 * names the first of its QDict walk.
 */
function checkUnknownOptions(node: BlockNode, noBackingFlag: boolean): void {
  const known = node.driver.openOptions;
  if (!known) return;
  const unknown: string[] = [];
  for (const key in node.options) {
    if (GENERIC_OPTIONS.has(key) || known.includes(key)) continue;
    if (key === 'backing' && (!noBackingFlag || node.options[key] === JSON_NULL)) continue;
    const role = key.split('.')[0]!;
    if (node.children.has(role) || (role === 'backing' && !noBackingFlag)) continue;
    if (known.includes(role)) continue;
    unknown.push(key);
  }
  if (unknown.length === 0) return;
  const key = qdictOrder(unknown)[0]!;
  // QEMU's two wordings, one per kind of driver.
  const what = node.driver.kind === 'format' ? 'format' : 'protocol';
  const verb = what === 'format' ? 'does not' : "doesn't";
  throw new BlockError('EINVAL', `Block ${what} '${node.driver.name}' ${verb} support the option '${key}'`);
}

/** A read-write protocol node for a filename (what format create() writes its metadata through). */
export function openProtocolNode(filename: string, options: BlockOptions = {}, cache: string | CacheFlags = 'writeback'): Promise<BlockNode> {
  const flags = typeof cache === 'string' ? parseCacheMode(cache) : { ...cache };
  const inherited: Inherited = {
    readOnly: false, cache: flags, unmap: true, noBacking: true, singleClient: false, forCheck: false,
    request: { perm: PERM_WRITE | PERM_RESIZE, deny: 0 }, forceShare: false,
  };
  return openNode(options, filename, inherited, 'protocol');
}
