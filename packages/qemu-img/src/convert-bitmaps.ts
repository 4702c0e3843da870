// convert --bitmaps [--skip-broken-bitmaps]: the source's persistent bitmaps
// checked before the target exists, and copied into it after the data, as
// qemu-img 7.2 does (same name, granularity and enabled state; contents
// merged in; inconsistent ones refused, or skipped with a warning).
import type { BlockBackend } from '@tsemu/block-core';
import { bitmapsOf } from './bitmaps.js';
import { CommandError, type Context } from './io.js';

/** Before the target is created: one source, able to hold bitmaps, none inconsistent unless skipped. */
export function checkBitmapSource(sources: readonly { blk: BlockBackend }[], skipBroken: boolean): void {
  if (sources.length !== 1) throw new CommandError('Copying bitmaps only possible with single source');
  const bitmaps = bitmapsOf(sources[0]!.blk);
  if (bitmaps === undefined) throw new CommandError('Source lacks bitmap support');
  if (skipBroken) return;
  // QEMU walks its list newest first: the last inconsistent one in directory order is named.
  const broken = [...bitmaps.list].reverse().find((b) => b.inconsistent);
  if (broken !== undefined) {
    throw new CommandError(`Cannot copy inconsistent bitmap '${broken.name}'\n` +
      "Try --skip-broken-bitmaps, or use 'qemu-img bitmap --remove' to delete it");
  }
}

/** After the data: every consistent bitmap recreated in the target and its bits merged in. */
export async function copyBitmaps(ctx: Context, source: BlockBackend, target: BlockBackend): Promise<void> {
  const from = bitmapsOf(source);
  const to = bitmapsOf(target);
  if (from === undefined || to === undefined) return;
  // QEMU walks its list newest first (the warnings come in that order); the
  // target stores what it got in directory order either way.
  for (const bm of [...from.list].reverse()) {
    if (bm.inconsistent) ctx.io.stderr.write(`qemu-img: warning: Skipping inconsistent bitmap '${bm.name}'\n`);
  }
  for (const bm of from.list) {
    if (bm.inconsistent) continue;
    try {
      to.add(bm.name, 2 ** bm.granularityBits, !bm.auto);
      to.merge(bm.name, await from.bitsOf(bm), bm.granularityBits);
    } catch (err) {
      throw new CommandError(err instanceof Error ? err.message : String(err));
    }
  }
}
