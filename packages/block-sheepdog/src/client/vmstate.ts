// VM state save/load as QEMU 1.4 does it (spec section 6): VMSTATE objects of
// the current vid, 4 MiB each; a chunk that starts at object offset 0 is
// written with CREATE_AND_WRITE_OBJ, any other with WRITE_OBJ; reads are
// READ_OBJ. One short-lived connection per call, requests one after another
// (the daemon sends vmstate past its object cache either way).
// Reached through SheepdogImage.saveVmState / loadVmState, and through
// block-core's writeVmState / readVmState hooks (qemu-io write -b / read -b).
import {
  SD_OP_CREATE_AND_WRITE_OBJ, SD_OP_READ_OBJ, SD_OP_WRITE_OBJ, SD_FLAG_CMD_WRITE, SD_RES_SUCCESS, SD_DATA_OBJ_SIZE,
} from '../wire/constants.js';
import { vmstateOidHi } from '../wire/oid.js';
import { SheepdogIoConnection } from './io-connection.js';
import { sdResultError } from './errors.js';
import type { SheepdogAddress } from './location.js';

export interface VmStateHost {
  readonly vid: number;
  readonly copies: number;
  readonly cacheFlags: number;
  readonly location: { address: SheepdogAddress };
}

/** Writes (`load` false) or reads `buf` at byte `pos` of the VM state of the host's current vid. */
export async function loadSaveVmState(host: VmStateHost, buf: Uint8Array, pos: number, load: boolean): Promise<number> {
  const io = await SheepdogIoConnection.open(host.location.address);
  try {
    let index = Math.floor(pos / SD_DATA_OBJ_SIZE);
    let offset = pos % SD_DATA_OBJ_SIZE;
    let done = 0;
    while (done < buf.length) {
      const n = Math.min(buf.length - done, SD_DATA_OBJ_SIZE - offset);
      const part = buf.subarray(done, done + n);
      const hi = vmstateOidHi(host.vid);
      const r = load
        ? await io.request(SD_OP_READ_OBJ, host.cacheFlags, hi, index, 0, 0, host.copies, offset, null, part)
        : await io.request(offset === 0 ? SD_OP_CREATE_AND_WRITE_OBJ : SD_OP_WRITE_OBJ, SD_FLAG_CMD_WRITE | host.cacheFlags,
          hi, index, 0, 0, host.copies, offset, part, null);
      if (r !== SD_RES_SUCCESS) throw sdResultError(r, (t) => `failed to ${load ? 'load' : 'save'} vmstate, ${t}`);
      done += n;
      index++;
      offset = 0;
    }
    return done;
  } finally {
    await io.close();
  }
}
