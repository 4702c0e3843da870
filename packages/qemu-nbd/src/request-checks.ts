// The checks qemu-nbd 7.2 makes on every request, in its order, with the
// errno it answers: oversized payloads and unknown commands EINVAL,
// read-only writes EPERM, past-EOF writes ENOSPC, other out-of-range
// requests and flags a command does not take EINVAL.
import type { Errno } from '@tsemu/block-core';
import {
  COMMAND_NAMES, NBD_CMD_FLAG_DF, NBD_CMD_FLAG_FAST_ZERO, NBD_CMD_FLAG_FUA, NBD_CMD_FLAG_NO_HOLE, NBD_CMD_FLAG_REQ_ONE,
  NBD_MAX_PAYLOAD, NbdCommand, type NbdRequest,
} from '@tsemu/block-nbd';
import type { NbdExport } from './export.js';

export class RequestFailure extends Error {
  constructor(readonly errno: Errno, message: string) {
    super(message);
    this.name = 'RequestFailure';
  }
}

/** null when the request may run; otherwise the error to answer it with. */
export function checkRequest(req: NbdRequest, exp: NbdExport, structured: boolean, metaContexts: boolean): RequestFailure | null {
  const type = req.type;
  if ((type === NbdCommand.READ || type === NbdCommand.WRITE || type === NbdCommand.CACHE) && req.length > NBD_MAX_PAYLOAD) {
    return new RequestFailure('EINVAL', `len (${req.length}) is larger than max len (${NBD_MAX_PAYLOAD})`);
  }
  if (exp.readOnly && (type === NbdCommand.WRITE || type === NbdCommand.WRITE_ZEROES || type === NbdCommand.TRIM)) {
    return new RequestFailure('EPERM', 'Export is read-only');
  }
  if (type > NbdCommand.BLOCK_STATUS) return new RequestFailure('EINVAL', `unsupported command ${type}`);
  if (req.offset > exp.size || req.length > exp.size - req.offset) {
    const message = `operation past EOF; From: ${req.offset}, Len: ${req.length}, Size: ${exp.size}`;
    return new RequestFailure(type === NbdCommand.WRITE || type === NbdCommand.WRITE_ZEROES ? 'ENOSPC' : 'EINVAL', message);
  }
  let valid = NBD_CMD_FLAG_FUA;
  if (type === NbdCommand.READ && structured) valid |= NBD_CMD_FLAG_DF;
  else if (type === NbdCommand.WRITE_ZEROES) valid |= NBD_CMD_FLAG_NO_HOLE | NBD_CMD_FLAG_FAST_ZERO;
  else if (type === NbdCommand.BLOCK_STATUS) valid |= NBD_CMD_FLAG_REQ_ONE;
  if ((req.flags & ~valid) !== 0) {
    return new RequestFailure('EINVAL', `unsupported flags for command ${COMMAND_NAMES[type]} (got 0x${req.flags.toString(16)})`);
  }
  if (type === NbdCommand.BLOCK_STATUS) {
    if (req.length === 0) return new RequestFailure('EINVAL', 'need non-zero length');
    if (!metaContexts) return new RequestFailure('EINVAL', 'CMD_BLOCK_STATUS not negotiated');
  }
  return null;
}
