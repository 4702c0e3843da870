// NBD wire constants, named as in the NBD protocol document (doc/proto.md).
// Every number on the wire is big-endian.

/** "NBDMAGIC": the first 8 bytes a newstyle server sends. */
export const NBD_INIT_MAGIC_HI = 0x4e42444d; // 'NBDM'
export const NBD_INIT_MAGIC_LO = 0x41474943; // 'AGIC'
/** "IHAVEOPT": newstyle negotiation magic (server greeting and every option request). */
export const NBD_OPTS_MAGIC_HI = 0x49484156;
export const NBD_OPTS_MAGIC_LO = 0x454f5054;
/** Oldstyle servers send this instead of IHAVEOPT (not supported). */
export const NBD_OLDSTYLE_MAGIC_HI = 0x00004202;
export const NBD_OLDSTYLE_MAGIC_LO = 0x81861253;
/** Option reply magic 0x0003e889045565a9. */
export const NBD_REP_MAGIC_HI = 0x0003e889;
export const NBD_REP_MAGIC_LO = 0x045565a9;

export const NBD_REQUEST_MAGIC = 0x25609513;
export const NBD_SIMPLE_REPLY_MAGIC = 0x67446698;
export const NBD_STRUCTURED_REPLY_MAGIC = 0x668e33ef;

/** Handshake flags (server -> client, 16 bits). */
export const NBD_FLAG_FIXED_NEWSTYLE = 1 << 0;
export const NBD_FLAG_NO_ZEROES = 1 << 1;
/** Client flags (client -> server, 32 bits). */
export const NBD_FLAG_C_FIXED_NEWSTYLE = 1 << 0;
export const NBD_FLAG_C_NO_ZEROES = 1 << 1;

/** Transmission flags (per export, 16 bits). */
export const NBD_FLAG_HAS_FLAGS = 1 << 0;
export const NBD_FLAG_READ_ONLY = 1 << 1;
export const NBD_FLAG_SEND_FLUSH = 1 << 2;
export const NBD_FLAG_SEND_FUA = 1 << 3;
export const NBD_FLAG_ROTATIONAL = 1 << 4;
export const NBD_FLAG_SEND_TRIM = 1 << 5;
export const NBD_FLAG_SEND_WRITE_ZEROES = 1 << 6;
export const NBD_FLAG_SEND_DF = 1 << 7;
export const NBD_FLAG_CAN_MULTI_CONN = 1 << 8;
export const NBD_FLAG_SEND_RESIZE = 1 << 9;
export const NBD_FLAG_SEND_CACHE = 1 << 10;
export const NBD_FLAG_SEND_FAST_ZERO = 1 << 11;

/** Names qemu-nbd -L prints for transmission flag bits (index = bit). */
export const TRANSMISSION_FLAG_NAMES: readonly (string | undefined)[] = [
  undefined, 'readonly', 'flush', 'fua', 'rotational', 'trim', 'zeroes', 'df', 'multi', 'resize', 'cache', 'fast-zero',
];

/** Option codes (NBD_OPT_*). */
export const NbdOption = {
  EXPORT_NAME: 1,
  ABORT: 2,
  LIST: 3,
  PEEK_EXPORT: 4,
  STARTTLS: 5,
  INFO: 6,
  GO: 7,
  STRUCTURED_REPLY: 8,
  LIST_META_CONTEXT: 9,
  SET_META_CONTEXT: 10,
  EXTENDED_HEADERS: 11,
} as const;

/** Option reply types (NBD_REP_*); errors have bit 31 set. */
export const NbdOptionReply = {
  ACK: 1,
  SERVER: 2,
  INFO: 3,
  META_CONTEXT: 4,
  ERR_UNSUP: 0x80000001,
  ERR_POLICY: 0x80000002,
  ERR_INVALID: 0x80000003,
  ERR_PLATFORM: 0x80000004,
  ERR_TLS_REQD: 0x80000005,
  ERR_UNKNOWN: 0x80000006,
  ERR_SHUTDOWN: 0x80000007,
  ERR_BLOCK_SIZE_REQD: 0x80000008,
  ERR_TOO_BIG: 0x80000009,
} as const;

export function isOptionReplyError(type: number): boolean {
  return type >= 0x80000000;
}

/** NBD_INFO_* items inside NBD_REP_INFO. */
export const NbdInfo = {
  EXPORT: 0,
  NAME: 1,
  DESCRIPTION: 2,
  BLOCK_SIZE: 3,
} as const;

/** Commands (NBD_CMD_*). */
export const NbdCommand = {
  READ: 0,
  WRITE: 1,
  DISC: 2,
  FLUSH: 3,
  TRIM: 4,
  CACHE: 5,
  WRITE_ZEROES: 6,
  BLOCK_STATUS: 7,
  RESIZE: 8,
} as const;

export const COMMAND_NAMES = ['read', 'write', 'disconnect', 'flush', 'trim', 'cache', 'write zeroes', 'block status', 'resize'];

/** Command flags (NBD_CMD_FLAG_*). */
export const NBD_CMD_FLAG_FUA = 1 << 0;
export const NBD_CMD_FLAG_NO_HOLE = 1 << 1;
export const NBD_CMD_FLAG_DF = 1 << 2;
export const NBD_CMD_FLAG_REQ_ONE = 1 << 3;
export const NBD_CMD_FLAG_FAST_ZERO = 1 << 4;

/** Structured reply chunk flags and types. */
export const NBD_REPLY_FLAG_DONE = 1 << 0;
export const NbdChunk = {
  NONE: 0,
  OFFSET_DATA: 1,
  OFFSET_HOLE: 2,
  BLOCK_STATUS: 5,
  ERROR: 0x8001,
  ERROR_OFFSET: 0x8002,
} as const;

export function isChunkError(type: number): boolean {
  return (type & 0x8000) !== 0;
}

/** base:allocation descriptor flags. */
export const NBD_STATE_HOLE = 1 << 0;
export const NBD_STATE_ZERO = 1 << 1;
export const BASE_ALLOCATION = 'base:allocation';

/** Largest READ/WRITE payload QEMU accepts (NBD_MAX_BUFFER_SIZE): 32 MiB. */
export const NBD_MAX_PAYLOAD = 32 << 20;
/** Largest option payload we buffer; bigger ones are skipped and answered ERR_TOO_BIG. */
export const NBD_MAX_OPTION_PAYLOAD = 64 << 10;
/** Strings (names, descriptions, contexts) are at most 4096 bytes per the protocol. */
export const NBD_MAX_STRING = 4096;
/** Largest non-data structured reply chunk we buffer (block status, errors). */
export const NBD_MAX_CHUNK_PAYLOAD = 1 << 20;

export const NBD_DEFAULT_PORT = 10809;

export const REQUEST_HEADER_BYTES = 28;
export const SIMPLE_REPLY_BYTES = 16;
export const STRUCTURED_REPLY_BYTES = 20;
export const OPTION_HEADER_BYTES = 16;
export const OPTION_REPLY_HEADER_BYTES = 20;
export const GREETING_BYTES = 18;
