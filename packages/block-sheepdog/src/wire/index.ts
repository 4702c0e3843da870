export * from './constants.js';
export * from './oid.js';
export * from './header.js';
export * from './inode.js';
export { FrameReader, SheepdogProtocolError } from './frame-reader.js';
