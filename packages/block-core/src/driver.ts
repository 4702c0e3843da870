// The BlockDriver contract: what a driver (file, raw, qcow2, nbd, sheepdog...)
// implements. A driver only translates; alignment, serialisation, bounds,
// read-only, zero detection, cache modes and flush ordering live in the
// generic layer (BlockNode / BlockBackend), once.
import type { PermRequest } from './perm.js';
import type { CacheFlags } from './cache.js';
import type { BlockNode } from './node.js';

/** Flat QEMU option dictionary: dotted keys as QEMU writes them ("file.filename", "cache.direct"). */
export type BlockOptions = Record<string, string>;

export interface WriteFlags {
  /** Force Unit Access: stable before completion (set by the generic layer when WCE is off). */
  fua?: boolean;
}

export interface ZeroFlags extends WriteFlags {
  /** The range may be deallocated instead of written (write -z -u, detect-zeroes=unmap). */
  mayUnmap?: boolean;
  /** Fail with ENOTSUP instead of writing a buffer of zeroes (NBD FAST_ZERO). */
  noFallback?: boolean;
}

/** QEMU's BDRV_BLOCK_* bits, as booleans. */
export interface BlockStatus {
  /** Bytes from the queried offset that share this status (>= 1 unless past the end). */
  length: number;
  /** Reads come from this node's own data (BDRV_BLOCK_DATA). */
  data: boolean;
  /** Reads return zeroes (BDRV_BLOCK_ZERO). */
  zero: boolean;
  /** Allocated in this layer rather than a backing file (BDRV_BLOCK_ALLOCATED). */
  allocated: boolean;
  /** Host offset in `file` where the data lives (BDRV_BLOCK_OFFSET_VALID), for map output. */
  offset?: number;
  /** The node holding `offset` (usually the protocol node below). */
  file?: BlockNode;
  /** Compressed or encrypted: no raw offset can be given (qemu-img map's complaint). */
  compressed?: boolean;
}

export type Preallocation = 'off' | 'metadata' | 'falloc' | 'full';

/** One entry of "Format specific information:" (info) as a tree of key/values. */
export interface FormatSpecificInfo {
  type: string;
  data: Record<string, unknown>;
}

export interface DriverInfo {
  clusterSize?: number;
  vmStateOffset?: number;
  formatSpecific?: FormatSpecificInfo;
  dirty?: boolean;
  /** Guest data is encrypted (qemu-img info's "encrypted: yes"). */
  encrypted?: boolean;
}

/** What an open driver instance can do. Everything optional degrades cleanly. */
export interface BlockDriverState {
  /**
   * Moves this node to new permissions (a probed format learned what it needs
   * of its file). Throws QEMU's lock error, keeping the old ones, when another
   * process conflicts. Only nodes that lock something implement it.
   */
  setPermissions?(req: PermRequest): void;
  /** Keeps the permissions held but denies nothing any more (see BlockNode.allowWriters). */
  allowWriters?(): void;
  /**
   * Byte alignment the driver needs for offsets and lengths (1 = any). The
   * generic layer pads unaligned requests (read-modify-write) before they get
   * here. Buffer *memory* alignment is the driver's own business (file uses
   * aligned bounce buffers for O_DIRECT).
   */
  readonly requestAlignment: number;
  /** The driver wants overlapping writes serialised (read-modify-write inside it). */
  readonly serialiseWrites?: boolean;
  /** FUA is honoured natively; otherwise the generic layer follows a FUA write with a flush. */
  readonly supportsFua?: boolean;
  /**
   * The node has no usable driver any more (QEMU's bs->drv = NULL after a
   * fatal corruption event): requests fail with ENOMEDIUM before any other check.
   */
  readonly noMedium?: boolean;

  getLength(): Promise<number>;
  /**
   * Fill `iov` (total `length` bytes). When the node has a backing child and
   * blockStatus() is implemented, the generic layer only calls this for ranges
   * blockStatus() reports allocated, and reads the rest from the backing node
   * (zeroes past its end): drivers never read their backing file for guest reads.
   */
  preadv(offset: number, length: number, iov: Uint8Array[]): Promise<void>;
  pwritev(offset: number, length: number, iov: Uint8Array[], flags: WriteFlags): Promise<void>;
  /**
   * Compressed write of whole clusters (qemu-io write -c, qemu-img convert -c).
   * Absent: the format cannot compress and the request fails with ENOTSUP.
   */
  pwritevCompressed?(offset: number, length: number, iov: Uint8Array[]): Promise<void>;
  /** Absent: the generic layer writes zero buffers (unless noFallback). */
  pwriteZeroes?(offset: number, length: number, flags: ZeroFlags): Promise<void>;
  /** Absent: discard is a no-op that succeeds (as in QEMU). */
  pdiscard?(offset: number, length: number): Promise<void>;
  /** Make this node's own writes stable (fdatasync for files; metadata for formats). Children are flushed by the generic layer. */
  flush?(): Promise<void>;
  /** Absent: everything reads as allocated data. */
  blockStatus?(offset: number, length: number): Promise<BlockStatus>;
  /**
   * blockStatus() without waiting, for callers that map a whole image run by
   * run (convert): the same answer when it can be given from memory or a
   * non-blocking call, undefined when only blockStatus() can answer.
   */
  blockStatusNow?(offset: number, length: number): BlockStatus | undefined;
  /**
   * `zeroWrite` (QEMU's BDRV_REQ_ZERO_WRITE, asked by BlockNode when a backing
   * file reaches past the old end): the grown range must read as zeroes.
   */
  truncate?(size: number, exact: boolean, prealloc: Preallocation, zeroWrite?: boolean): Promise<void>;
  /** truncate honours `zeroWrite` (QEMU's supported_truncate_flags); without it such a grow is refused. */
  readonly truncateZeroWrite?: boolean;
  /** Host bytes used (qemu-img info's disk size); undefined = unavailable. */
  allocatedFileSize?(): Promise<number | undefined>;
  info?(): DriverInfo;
  /** The cache flags changed on a live node (reopen with new cache.* options). */
  setCacheFlags?(flags: CacheFlags): void;
  close(): Promise<void>;
}

/** What `open` gets from the generic layer. */
export interface OpenContext {
  /** The node being opened (children attach through it). */
  node: BlockNode;
  /** This node's own options, prefix stripped ("filename", "offset", "file.filename" for the child...). */
  options: BlockOptions;
  readOnly: boolean;
  cache: CacheFlags;
  /**
   * Opens a child node from this node's `<role>.*` options, a `<role>=filename`
   * option, or `fallbackFilename` (for `file`, the node's own filename is the
   * default). A backing child is always read-only; a relative backing name is
   * resolved against the directory of this node's filename. `fallbackFormat`
   * (e.g. qcow2's backing_fmt) skips probing.
   */
  openChild(role: 'file' | 'backing' | string, fallbackFilename?: string, fallbackFormat?: string): Promise<BlockNode>;
  /** True when backing files must not be opened (-U/--no-backing, `backing=null`): record the name, skip openChild('backing'). */
  noBacking: boolean;
  /** OpenSpec.singleClient: the tool serves one client, short synchronous host calls are acceptable. */
  singleClient?: boolean;
  /** OpenSpec.forCheck (BDRV_O_CHECK): no automatic repair at open; `check` does it. */
  forCheck?: boolean;
  /** OpenSpec.noIo (BDRV_O_NO_IO, qemu-img info): no guest data will be read or written. */
  noIo?: boolean;
  /** What the parent asks of this node: the permissions a host file locks (see perm.ts). */
  perm?: PermRequest;
  /** OpenSpec.onWarnReport: where a driver's open-time warnings go (undefined: process.stderr). */
  warnReport?: (text: string) => void;
  /** The tool's `secret` objects (secrets.ts), for key-secret options. */
  secret?: SecretLookup;
}

export interface CreateOptionSpec {
  name: string;
  type: 'size' | 'number' | 'bool' | 'string';
  help: string;
  default?: string;
}

export interface CreateContext {
  filename: string;
  size: number;
  /** -o options already validated against createOptions, plus backing_file/backing_fmt. */
  options: Record<string, string>;
  /** Opens or creates the protocol node under a format being created. */
  createFile(filename: string, size: number, options: Record<string, string>): Promise<void>;
  openFile(filename: string): Promise<BlockNode>;
  /** The tool's `secret` objects, for key-secret options. */
  secret?: SecretLookup;
}

export interface BlockDriver {
  /** QEMU's driver name: 'raw', 'file', 'qcow2', 'nbd', 'null-co', 'blkdebug'. */
  readonly name: string;
  readonly kind: 'format' | 'protocol' | 'filter';
  /** URI / prefix names handled by a protocol driver ('nbd', 'nbd+unix', 'sheepdog', 'null-co'). */
  readonly protocols?: string[];
  /** Scores an image header for probing (QEMU: 100 = certain, 1 = raw's fallback). */
  probe?(header: Uint8Array, filename: string): number;
  /** Splits a protocol filename ("nbd://h/x") into this driver's options. */
  parseFilename?(filename: string): BlockOptions;
  /**
   * QEMU's strong runtime options: those that change what the node presents
   * (raw's offset), so a name without them would mislead. A node given one is
   * shown by its options (`json:{...}`, see refresh-filename.ts). A name
   * ending in '.' covers every option under that prefix.
   */
  readonly strongOptions?: readonly string[];
  /**
   * False when a newly created image does not read as zeroes (QEMU's
   * bdrv_has_zero_init: a luks volume's unwritten payload deciphers to
   * noise), so convert writes the zeroes itself. Default: it does.
   */
  readonly zeroInit?: boolean;
  /**
   * The name a node of this driver shows when it has its own way of naming
   * itself (null-co://, blkdebug:config:image); '' when only its options can
   * say what it is. `strong`: the strong options the node was given;
   * `childName(role)`: a child's shown name ('' if it has none).
   */
  exactFilename?(node: BlockNode, strong: readonly string[], childName: (role: string) => string): string;
  open(ctx: OpenContext): Promise<BlockDriverState>;
  /** Options accepted by create / amend, in QEMU's order for the `Formatting` line. */
  readonly createOptions?: CreateOptionSpec[];
  /** Options amend takes, in QEMU's order (`amend -o help` lists them sorted). */
  readonly amendOptions?: CreateOptionSpec[];
  create?(ctx: CreateContext): Promise<void>;
  /**
   * Option names (without child prefixes) this driver understands. When given,
   * open rejects anything else as QEMU does ("Block format 'raw' does not
   * support the option 'x'"). Generic ones (driver, read-only, cache.*,
   * discard, detect-zeroes, node-name, force-share) are always accepted.
   */
  readonly openOptions?: string[];
  /**
   * QEMU's driver has no bdrv_co_get_info and passes nothing through (null-co,
   * nbd): qemu-io's `info` then fails after the format name. Drivers that do
   * not say so answer, with their own `info` or an empty one.
   */
  readonly noInfo?: boolean;
  /** Extra capability flags the tools check before calling (snapshots, check, compression). */
  /** bitmaps: the format can hold persistent dirty bitmaps (qemu-img convert --bitmaps accepts it). */
  /** `backing`: the format takes a backing node (QEMU's supports_backing); others refuse backing options. */
  readonly supports?: { check?: boolean; snapshots?: boolean; compressedWrites?: boolean; amend?: boolean; bitmaps?: boolean; backing?: boolean };
}

// ---- Optional hooks for the image tools (qemu-img snapshot / check / amend / measure) ----
// Added for issue 3. Names differ from the drivers' own methods (qcow2's
// `check`, sheepdog's `snapshotCreate`) so existing signatures stay. All optional: a driver without them makes the tools
// answer QEMU's "not supported" messages. Drivers implement them as thin
// adapters over their own code.

/** One internal snapshot, with QEMU's QEMUSnapshotInfo fields. */
export interface SnapshotInfo {
  /** QEMU's id_str ("1", "2", ...). */
  id: string;
  /** The tag (qemu-img snapshot's name). */
  name: string;
  /** Bytes of VM state saved with the snapshot (0 for disk-only snapshots). */
  vmStateSize: number;
  dateSec: number;
  dateNsec: number;
  /** Guest clock at snapshot time, in nanoseconds. */
  vmClockNsec: number;
  /** Instruction count (record/replay); undefined or -1 = none. */
  icount?: number;
}

/** What `createSnapshot` is given; the driver picks the id (and the date when absent). */
export interface SnapshotCreateRequest {
  name: string;
  dateSec?: number;
  dateNsec?: number;
  vmClockNsec?: number;
  vmStateSize?: number;
}

/** qemu-img check -r: none = report only, leaks = fix leaks, all = fix leaks and corruptions. */
export type CheckRepair = 'none' | 'leaks' | 'all';

/** QEMU's BdrvCheckResult, the numbers `qemu-img check` prints. */
export interface CheckResult {
  corruptions: number;
  leaks: number;
  checkErrors: number;
  corruptionsFixed: number;
  leaksFixed: number;
  /** Offset of the first byte after the last used host cluster (0 = unknown). */
  imageEndOffset: number;
  allocatedClusters: number;
  totalClusters: number;
  fragmentedClusters: number;
  compressedClusters: number;
}

/** qemu-img measure's answer for one output format (bytes). */
export interface MeasureResult {
  required: number;
  fullyAllocated: number;
  /** Bytes of persistent bitmaps (qcow2 prints "bitmaps size" for an input image). */
  bitmaps?: number;
}

/** What `BlockDriver.measure` is told about the input (absent for `--size`). */
export interface MeasureInput {
  /** Virtual size of the new image. */
  size: number;
  /** -o options for the output format (already validated against createOptions). */
  options: Record<string, string>;
  /** Allocated [offset, length] extents of the input; undefined = `--size` (nothing allocated). */
  allocated?: ReadonlyArray<readonly [number, number]>;
  /** The bytes of a `secret` object (--object secret,id=...), for key-secret options. */
  secret?: SecretLookup;
}

/** Looks a `secret` object up by id (undefined: no such secret). */
export type SecretLookup = (id: string) => Uint8Array | undefined;

/**
 * The optional tool hooks on a BlockDriverState (declared apart so the core
 * interface above stays readable). A driver state may implement any subset.
 */
export interface BlockDriverStateToolHooks {
  /** Internal snapshots of this node (QEMU's bdrv_snapshot_*). Image must be quiescent. */
  listSnapshots?(): Promise<SnapshotInfo[]>;
  createSnapshot?(request: SnapshotCreateRequest): Promise<void>;
  /** Reverts the node to a snapshot, found by id first, then by name. */
  gotoSnapshot?(idOrName: string): Promise<void>;
  /**
   * Makes a read-only node show a snapshot instead of the active image until
   * it is closed (QEMU's bdrv_snapshot_load_tmp; qemu-img convert/measure -l).
   * Either `id` or `name` may be undefined; both given must both match.
   */
  loadSnapshotReadOnly?(id: string | undefined, name: string | undefined): Promise<void>;
  /** Deletes a snapshot found by id first, then by name. */
  deleteSnapshot?(idOrName: string): Promise<void>;
  /**
   * qemu-img check: counts and, under `repair`, fixes. Each per-problem line
   * QEMU prints on stderr ("Leaked cluster 6 refcount=2 reference=1",
   * "ERROR ...", "Repairing ...") goes to `onMessage` as it is found.
   */
  checkImage?(repair: CheckRepair, onMessage?: (line: string) => void): Promise<CheckResult>;
  /**
   * Drops every cluster so all reads fall through to the backing file (QEMU's
   * bdrv_make_empty; qemu-img commit without -d). Unlike discard, never leaves zero clusters.
   */
  makeEmpty?(): Promise<void>;
  /**
   * Rewrites the backing file name and format recorded in the image (QEMU's
   * bdrv_change_backing_file; qemu-img rebase). `undefined` removes the backing file.
   * Only the header changes: the caller copies data first where needed.
   */
  changeBackingFile?(backingFile: string | undefined, backingFormat: string | undefined): Promise<void>;
  /**
   * qemu-img amend -o ...: options already checked against createOptions; `force` = --force.
   * `status` gets QEMU's amend progress callbacks (work done, total work) for -p.
   */
  amendImage?(options: Record<string, string>, force: boolean, status?: (done: number, total: number) => void): Promise<void>;
}

// Declaration merging: the hooks become optional members of BlockDriverState.
// eslint-disable-next-line @typescript-eslint/no-empty-interface
export interface BlockDriverState extends BlockDriverStateToolHooks {}

/** The optional measure hook of a format driver (qemu-img measure -O <format>). */
export interface BlockDriverMeasureHook {
  measure?(input: MeasureInput): MeasureResult;
}

// eslint-disable-next-line @typescript-eslint/no-empty-interface
export interface BlockDriver extends BlockDriverMeasureHook {}

/**
 * The optional VM state hooks (QEMU's bdrv_save_vmstate / bdrv_load_vmstate):
 * `pos` is relative to the start of the format's VM state area (qcow2: the
 * guest offsets just past the disk). Absent: block-core tries the node's
 * file child, then answers ENOTSUP (raw, file, nbd...).
 */
export interface BlockDriverStateVmStateHooks {
  writeVmState?(pos: number, length: number, iov: Uint8Array[]): Promise<void>;
  /** Unwritten VM state reads as zeroes. */
  readVmState?(pos: number, length: number, iov: Uint8Array[]): Promise<void>;
}

// eslint-disable-next-line @typescript-eslint/no-empty-interface
export interface BlockDriverState extends BlockDriverStateVmStateHooks {}
