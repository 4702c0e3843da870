// The LUKS header of a qcow2 image encrypted with encrypt.format=luks: found
// through the crypto header extension (checked as QEMU checks it), then
// checked and described by @tsemu/block-luks for info's "encrypt" entry.
import { BlockError } from '@tsemu/block-core';
import { LUKS_HEADER_BYTES, orderKeys, parseLuksHeader, type LuksHeader } from '@tsemu/block-luks';
import { EXT_CRYPTO } from './constants.js';
import type { Qcow2Header } from './header.js';
import type { Qcow2HostFile } from './host-file.js';

/** The crypto header extension's (offset, length); none reads as (0, 0). */
export function cryptoExtension(h: Qcow2Header): { offset: number; length: number } {
  const ext = h.unknownExtensions.find((e) => e.type === EXT_CRYPTO);
  if (ext === undefined || ext.data.length < 16) return { offset: 0, length: 0 };
  const dv = new DataView(ext.data.buffer, ext.data.byteOffset, ext.data.byteLength);
  const offset = Number(dv.getBigUint64(0)), length = Number(dv.getBigUint64(8));
  if (offset % h.clusterSize !== 0) {
    throw new BlockError('EINVAL', `Encryption header offset '${offset}' is not a multiple of cluster size '${h.clusterSize}'`);
  }
  return { offset, length };
}

/** Reads and checks the image's LUKS header. */
export async function readLuksHeader(file: Qcow2HostFile, h: Qcow2Header): Promise<LuksHeader> {
  const ext = cryptoExtension(h);
  if (ext.length < LUKS_HEADER_BYTES) throw new BlockError('EINVAL', 'Request for data outside of extension header');
  const buf = new Uint8Array(LUKS_HEADER_BYTES);
  await file.read(ext.offset, buf);
  return parseLuksHeader(buf);
}

/** info's "encrypt" entry for a LUKS header (keys in QEMU's order). */
export function luksInfo(header: LuksHeader): Record<string, unknown> {
  return orderKeys({ format: 'luks', ...header.info });
}
