// qemu-img snapshot -l | -c | -a | -d: internal snapshots through block-core's
// snapshot hooks (qcow2, sheepdog). Messages and exit codes as qemu-img 7.2.
import { BlockError, strerror, type BlockDriverState, type Errno } from '@tsemu/block-core';
import { getopt, UsageError } from '../getopt.js';
import { closeQuietly, open } from '../image.js';
import { CommandError, HelpRequested, type Context } from '../io.js';
import { formatSnapshotList, snapshotNode } from '../snapshot-table.js';
import type { SubCommand } from './command.js';
import { defineObject } from '../objects.js';

type Action = 'list' | 'create' | 'apply' | 'delete';

/** Linux errno numbers, for create's "-95 (Operation not supported)". */
const ERRNO: Partial<Record<string, number>> = {
  EPERM: 1, ENOENT: 2, EIO: 5, EACCES: 13, EEXIST: 17, EINVAL: 22, EFBIG: 27, ENOSPC: 28, EROFS: 30, ERANGE: 34, ENOTSUP: 95,
};

function codeOf(err: unknown): Errno {
  return (err instanceof BlockError ? err.code : 'EIO') as Errno;
}

function errnoText(err: unknown): string {
  return err instanceof BlockError ? strerror(err.code as Errno) : err instanceof Error ? err.message : String(err);
}

async function run(ctx: Context, args: string[]): Promise<number> {
  const { options, operands } = getopt('snapshot', args, {
    short: ':la:c:d:hqU',
    long: [
      { name: 'help', arg: 'none', key: 'h' },
      { name: 'object', arg: 'required', key: 'object' },
      { name: 'image-opts', arg: 'none', key: 'image-opts' },
      { name: 'force-share', arg: 'none', key: 'U' },
    ],
  });
  let action: Action | undefined;
  let name = '';
  const format: string | undefined = undefined; // qemu-img 7.2's snapshot has no -f: images are probed
  let imageOpts = false;
  let forceShare = false;
  const setAction = (a: Action, arg?: string): void => {
    if (action !== undefined) throw new UsageError("Cannot mix '-l', '-a', '-c', '-d'");
    action = a;
    name = arg ?? '';
  };
  for (const o of options) {
    if (o.key === 'h') throw new HelpRequested();
    if (o.key === 'object') {
      defineObject(o.arg!);
      continue;
    }
    if (o.key === 'l') setAction('list');
    else if (o.key === 'a') setAction('apply', o.arg);
    else if (o.key === 'c') setAction('create', o.arg);
    else if (o.key === 'd') setAction('delete', o.arg);
    else if (o.key === 'image-opts') imageOpts = true;
    else if (o.key === 'U') forceShare = true;
  }
  if (operands.length !== 1) throw new UsageError('Expecting one image file name');
  // Only -l opens read-only (no action at all still opens read-write, as QEMU).
  const blk = await open(ctx, { filename: operands[0]!, format, readOnly: action === 'list', imageOpts, forceShare });
  try {
    const state: BlockDriverState = snapshotNode(blk.root).state;
    switch (action) {
      case 'list': {
        // QEMU lists nothing (and succeeds) when the driver has no snapshots.
        const list = state.listSnapshots ? await state.listSnapshots() : [];
        ctx.out(formatSnapshotList(list));
        break;
      }
      case 'create': {
        if (!state.createSnapshot) return failCreate(name, 'ENOTSUP');
        const now = Date.now();
        try {
          await state.createSnapshot({ name, dateSec: Math.floor(now / 1000), dateNsec: (now % 1000) * 1e6, vmClockNsec: 0 });
        } catch (err) {
          return failCreate(name, codeOf(err));
        }
        break;
      }
      case 'apply': {
        if (!state.gotoSnapshot) throw new CommandError(`Could not apply snapshot '${name}': Block driver does not support snapshots`);
        try {
          await state.gotoSnapshot!(name);
        } catch (err) {
          throw new CommandError(`Could not apply snapshot '${name}': Failed to load snapshot: ${errnoText(err)}`);
        }
        break;
      }
      case 'delete': {
        const list = state.listSnapshots ? await state.listSnapshots() : [];
        if (!list.some((s) => s.id === name || s.name === name)) {
          throw new CommandError(`Could not delete snapshot '${name}': snapshot not found`);
        }
        if (!state.deleteSnapshot) throw new CommandError(`Could not delete snapshot '${name}': snapshot not found`);
        try {
          await state.deleteSnapshot!(name);
        } catch (err) {
          throw new CommandError(`Could not delete snapshot '${name}': ${err instanceof Error ? err.message : String(err)}`);
        }
        break;
      }
      default:
        break;
    }
    await blk.flush();
  } finally {
    await closeQuietly(blk);
  }
  return 0;
}

function failCreate(name: string, code: Errno): never {
  throw new CommandError(`Could not create snapshot '${name}': -${ERRNO[code] ?? 5} (${strerror(code)})`);
}

export const snapshotCommand: SubCommand = {
  name: 'snapshot',
  syntax: 'snapshot [--object objectdef] [--image-opts] [-U] [-q] [-l | -a snapshot | -c snapshot | -d snapshot] filename',
  run,
};
