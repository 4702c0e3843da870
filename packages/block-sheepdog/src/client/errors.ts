// SD_RES_* -> errno, as the spec's table says: NO_VDI is ENOENT, everything
// else EIO. The daemon's own words travel with the error.
import { BlockError, type Errno } from '@tsemu/block-core';
import { SD_RES_NO_VDI, sdResultText } from '../wire/constants.js';

export class SheepdogError extends BlockError {
  /** The SD_RES_* code the daemon answered (undefined for transport failures). */
  readonly result: number | undefined;
  /** The daemon's message for that code ("No object found", ...). */
  readonly daemonMessage: string;

  constructor(code: Errno, message: string, result: number | undefined, daemonMessage: string) {
    super(code, message);
    this.name = 'SheepdogError';
    this.result = result;
    this.daemonMessage = daemonMessage;
  }
}

/**
 * An error for a failed request. `context` is prefixed as QEMU's error_report
 * lines are ("cannot get vdi info, No vdi found, disk 0 "); without it the
 * message is the daemon's own text.
 */
export function sdResultError(result: number, context?: (text: string) => string): SheepdogError {
  const text = sdResultText(result);
  const code: Errno = result === SD_RES_NO_VDI ? 'ENOENT' : 'EIO';
  return new SheepdogError(code, context ? context(text) : text, result, text);
}

/** Transport trouble (refused, reset, protocol violation): always EIO. */
export function sdTransportError(message: string): SheepdogError {
  return new SheepdogError('EIO', message, undefined, message);
}
