// Opening images for a sub-command: QEMU's "Could not open" wording and the
// probing warning, which qemu-img only prints for writable opens.
import { openImage, strerror } from '@tsemu/block-core';
import type { BlockBackend, Errno } from '@tsemu/block-core';
import { CommandError, type Context } from './io.js';

export interface ImageRequest {
  filename: string;
  format?: string;
  readOnly: boolean;
  cache?: string;
  imageOpts?: boolean;
  forceShare?: boolean;
  discard?: 'ignore' | 'unmap';
  /** Do not open backing files (info opens each image of a chain on its own). */
  noBacking?: boolean;
  /** Exit status when opening fails (compare uses 2). */
  failStatus?: number;
  /** Opened by `check` (BDRV_O_CHECK): the driver leaves repairs to the check. */
  forCheck?: boolean;
  /** Extra node options (e.g. `file.aio`). */
  options?: Record<string, string>;
  /** BDRV_O_NO_IO (info): no data read, so no consistent-read lock. */
  noIo?: boolean;
  /** BDRV_O_RESIZE (resize): the image's resize permission is locked too. */
  resize?: boolean;
}

export async function open(ctx: Context, req: ImageRequest): Promise<BlockBackend> {
  const status = req.failStatus ?? 1;
  if (req.imageOpts && req.format !== undefined) throw new CommandError('--image-opts and --format are mutually exclusive', status);
  try {
    return await openImage({
      filename: req.filename,
      format: req.format,
      imageOpts: req.imageOpts,
      readOnly: req.readOnly,
      cache: req.cache,
      forceShare: req.forceShare,
      discard: req.discard,
      noBacking: req.noBacking,
      forCheck: req.forCheck,
      noIo: req.noIo,
      resize: req.resize,
      ...(req.options && { options: req.options }),
      // qemu-img serves one caller: short synchronous host calls beat thread-pool round trips.
      singleClient: true,
      onWarning: req.readOnly ? undefined : (line) => ctx.warnLine(line),
      // qemu-img's --image-opts: a bare first element is a node reference, later ones short-form booleans.
      imageOptsReference: true,
      onOptionWarning: (line) => ctx.error(line),
      // A format's open-time warnings (qcow2's bitmaps), as QEMU's warn_report prints them.
      onWarnReport: (text) => ctx.warnReport(text),
    });
  } catch (err) {
    throw new CommandError(openFailureMessage(req.filename, err), status);
  }
}

/**
 * QEMU's image open prefixes every failure with "Could not open '<name>': ",
 * on top of the protocol layer's own "Could not open '<name>': <strerror>".
 * block-core may or may not have added the outer prefix; add it when missing.
 */
export function openFailureMessage(filename: string, err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  const prefix = `Could not open '${filename}': `;
  if (!message.startsWith(prefix)) return prefix + message;
  const rest = message.slice(prefix.length);
  // Only the protocol layer's prefix is there: "<prefix><strerror>".
  const code = (err as { code?: string }).code;
  if (isErrno(code) && rest === strerror(code)) return prefix + message;
  return message;
}

function isErrno(code: string | undefined): code is Errno {
  return code !== undefined && /^E[A-Z]+$/.test(code) && strerror(code as Errno) !== undefined;
}

/** A block-layer error as qemu-img reports it; its message is already in QEMU's words. */
export function asCommandError(err: unknown, status = 1): CommandError {
  if (err instanceof CommandError) return err.exitCode === status ? err : new CommandError(err.message, status);
  const message = err instanceof Error ? err.message : String(err);
  return new CommandError(message, status);
}

/** Closes without letting a close failure hide the error that got us here. */
export async function closeQuietly(blk: BlockBackend | undefined): Promise<void> {
  if (!blk) return;
  try {
    await blk.close();
  } catch {
    // The command's own outcome is what the user needs to see.
  }
}
