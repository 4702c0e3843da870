// Sheepdog protocol numbers as QEMU 1.4 and sheep 0.5.6 / 1.0.1 use them
// (see shared/specs/sheepdog-protocol.md, sections 2-5 and 8).

export const SD_PORT = 7000;
export const SD_HEADER_SIZE = 48;
/** proto_ver QEMU 1.4 puts on LOCK_VDI / GET_VDI_INFO; every other request carries 0. */
export const SD_PROTO_VER = 1;
/** The server's own version: anything above it is VER_MISMATCH. */
export const SD_SERVER_PROTO_VER = 2;

export const SD_OP_CREATE_AND_WRITE_OBJ = 0x01;
export const SD_OP_READ_OBJ = 0x02;
export const SD_OP_WRITE_OBJ = 0x03;
export const SD_OP_DISCARD_OBJ = 0x05;
export const SD_OP_NEW_VDI = 0x11;
export const SD_OP_LOCK_VDI = 0x12;
export const SD_OP_RELEASE_VDI = 0x13;
export const SD_OP_GET_VDI_INFO = 0x14;
export const SD_OP_READ_VDIS = 0x15;
export const SD_OP_FLUSH_VDI = 0x16;
export const SD_OP_DEL_VDI = 0x17;

export const SD_FLAG_CMD_WRITE = 0x01;
export const SD_FLAG_CMD_COW = 0x02;
export const SD_FLAG_CMD_CACHE = 0x04;
export const SD_FLAG_CMD_DIRECT = 0x08;

export const SD_RES_SUCCESS = 0x00;
export const SD_RES_UNKNOWN = 0x01;
export const SD_RES_NO_OBJ = 0x02;
export const SD_RES_EIO = 0x03;
export const SD_RES_VDI_EXIST = 0x04;
export const SD_RES_INVALID_PARMS = 0x05;
export const SD_RES_SYSTEM_ERROR = 0x06;
export const SD_RES_VDI_LOCKED = 0x07;
export const SD_RES_NO_VDI = 0x08;
export const SD_RES_NO_BASE_VDI = 0x09;
export const SD_RES_NO_TAG = 0x0e;
export const SD_RES_VDI_NOT_LOCKED = 0x10;
export const SD_RES_FULL_VDI = 0x13;
export const SD_RES_VER_MISMATCH = 0x14;
export const SD_RES_READONLY = 0x1a;

/** The daemon's own words for each result, used in error messages. */
const RESULT_TEXT: readonly string[] = [
  'Success', // 0x00
  'Unknown error', // 0x01
  'No object found', // 0x02
  'I/O error', // 0x03
  'VDI exists already', // 0x04
  'Invalid parameters', // 0x05
  'System error', // 0x06
  'VDI is already locked', // 0x07
  'No vdi found', // 0x08
  'No base VDI found', // 0x09
  'Cannot read requested vdi', // 0x0a
  'Cannot write requested vdi', // 0x0b
  'Cannot read base vdi', // 0x0c
  'Cannot write base vdi', // 0x0d
  'Requested tag is not found', // 0x0e
  'Sheepdog is starting up', // 0x0f
  'VDI is not locked', // 0x10
  'Sheepdog is shutting down', // 0x11
  'Cannot allocate memory', // 0x12
  'VDI is full', // 0x13
  'Protocol version mismatch', // 0x14
  'Server has no room for new objects', // 0x15
  'Sheepdog is waiting for a format operation', // 0x16
  'Sheepdog is waiting for other nodes joining', // 0x17
  'Target node had failed to join sheepdog', // 0x18
  'Sheepdog is stopped serving IO request', // 0x19
  'Object is read-only', // 0x1a
  'Unknown error 0x1b', // 0x1b
  'Unknown error 0x1c', // 0x1c
  'Inode object is invalidated', // 0x1d
];

export function sdResultText(result: number): string {
  return RESULT_TEXT[result] ?? `Invalid error code 0x${result.toString(16)}`;
}

/** Object geometry fixed in QEMU 1.4: 4 MiB objects, 2^20 of them per VDI. */
export const SD_DATA_OBJ_SHIFT = 22;
export const SD_DATA_OBJ_SIZE = 1 << SD_DATA_OBJ_SHIFT;
export const MAX_DATA_OBJS = 1 << 20;
export const SD_MAX_VDI_SIZE = SD_DATA_OBJ_SIZE * MAX_DATA_OBJS; // 4 TiB
export const SD_NR_VDIS = 1 << 24;
export const SD_VDI_BITMAP_SIZE = SD_NR_VDIS / 8; // READ_VDIS payload, 2 MiB
export const SD_MAX_VDI_LEN = 256;
export const SD_MAX_VDI_TAG_LEN = 256;
