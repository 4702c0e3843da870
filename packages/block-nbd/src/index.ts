// @tsemu/block-nbd: the NBD wire codec (shared by client and server) and the
// 'nbd' client block driver, registered with block-core on import.
import { registerDriver } from '@tsemu/block-core';
import { nbdDriver } from './client/driver.js';

export * from './constants.js';
export * from './errno.js';
export { ByteQueue, readUint64, writeUint64 } from './byte-queue.js';
export { WireReader, WireWriter, NbdProtocolError, NbdInvalidOption, utf8Length } from './wire.js';
export * from './option-codec.js';
export {
  NbdOptionParser, NbdOptionReplyParser, readClientFlags, readGreeting, readExportNameReply,
  type NbdOptionEvent, type NbdOptionReplyMessage,
} from './handshake-parsers.js';
export { NbdRequest, NbdRequestParser, writeRequestHeader, allocPayload } from './request-codec.js';
export { NbdReplyParser, writeSimpleReply, writeStructuredHeader, type NbdInflight } from './reply-codec.js';
export { connectSocket, describeAddress, type NbdServerAddress } from './client/address.js';
export { NbdClient, MAX_INFLIGHT, type NbdBlockStatusAnswer } from './client/client.js';
export type { ListedExport, NegotiatedExport } from './client/negotiate.js';
export type { NbdClientTls } from './client/tls.js';
export { parseNbdFilename, addressFromOptions, canonicalNbdFilename } from './client/filename.js';
export { nbdDriver, NbdDriverState } from './client/driver.js';

export {
  parseTlsCredsObject, registerTlsCredentials, findTlsCredentials, registerNonTlsObject, clearTlsCredentials, loadTlsMaterial, type NbdTlsCredentials,
} from './tls-creds.js';
export { tlsHandshakeError } from './tls-errors.js';
export { PSK_CIPHERS, PSK_DEFAULT_USERNAME, lookupServerPsk, loadClientPsk, pskFilePath } from './psk-keys.js';
registerDriver(nbdDriver);
