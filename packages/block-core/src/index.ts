// @tsemu/block-core: the block layer's public surface (see API.md).
import { registerDriver } from './registry.js';
import { fileDriver } from './drivers/file.js';
import { rawDriver } from './drivers/raw.js';
import { nullAioDriver, nullCoDriver } from './drivers/null.js';
import { blkdebugDriver } from './drivers/blkdebug.js';

export * from './errors.js';
export * from './cache.js';
export type * from './driver.js';
export { BlockNode, type BlockNodeInit, type DetectZeroes } from './node.js';
export { BlockBackend, type BackendInfo, type HostCacheBypass } from './backend.js';
export { openImage, openProtocolNode, type OpenSpec } from './open.js';
export { refreshedFilename } from './refresh-filename.js';
export { setSecretLookup, lookupSecret } from './secrets.js';
export * from './perm.js';
export { createImage, createOptionsFor, formattingLine, normalizedNumber, type CreateSpec } from './create.js';
export { registerDriver, findDriver, listDrivers, findProtocolDriver, probeFormat } from './registry.js';
export { childOptions, flattenJson, jsonLiteral, JSON_NULL, parseJsonFilename, parseBool, parseSizeOption, sizeOptionError } from './options.js';
export { iovLength, sliceIov, copyFromIov, copyToIov, zeroIov } from './iov.js';
export { RequestTracker } from './request-tracker.js';
export { fileDriver, FileDriverState, type FileIoStats } from './drivers/file.js';
export { rawDriver } from './drivers/raw.js';
export { nullCoDriver, nullAioDriver } from './drivers/null.js';
export { blkdebugDriver, blkdebugOf, BlkdebugState, type BlkdebugEvent, type BlkdebugOp } from './drivers/blkdebug.js';
export * from './util/index.js';
export { sizeToStr as formatSize } from './util/index.js';

for (const d of [fileDriver, rawDriver, nullCoDriver, nullAioDriver, blkdebugDriver]) registerDriver(d);
