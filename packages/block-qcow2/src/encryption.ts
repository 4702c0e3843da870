// Encrypted qcow2 data clusters (reading): the key a passphrase gives and the
// sector cipher. LUKS (encrypt.format=luks): the volume header and key slots
// live in the crypto header extension's clusters, and each 512-byte sector's
// IV comes from its *host* offset. The old AES scheme (encrypt.format=aes,
// crypt_method 1): AES-128-CBC keyed with the passphrase's first 16 bytes
// (zero-padded), IVs from the *guest* sector (plain64).
import { BlockError } from '@tsemu/block-core';
import { SectorCipher, unlockMasterKey, type LuksHeader } from '@tsemu/block-luks';
import type { Qcow2Header } from './header.js';
import type { Qcow2HostFile } from './host-file.js';
import { cryptoExtension } from './luks-info.js';

export interface Qcow2Crypto {
  cipher: SectorCipher;
  /** LUKS: IVs from host sectors; AES: from guest sectors. */
  physical: boolean;
  /** The passphrase that opened the image and the secret objects (amend's keyslot changes). */
  passphrase?: Uint8Array;
  secret?: (id: string) => Uint8Array | undefined;
}

const AES_PARAMS = {
  cipherName: 'aes', mode: 'cbc', ivgen: 'plain64', ivgenHash: undefined, hash: 'sha256', keyBytes: 16,
  mkDigest: new Uint8Array(0), mkDigestSalt: new Uint8Array(0), mkDigestIter: 0, slots: [],
};

/** The image's cipher for `passphrase`; QEMU's "Invalid password, cannot unlock any keyslot" for a wrong one (LUKS). */
export async function openCrypto(file: Qcow2HostFile, h: Qcow2Header, luks: LuksHeader | undefined, passphrase: Uint8Array): Promise<Qcow2Crypto> {
  if (luks === undefined) {
    const key = new Uint8Array(16);
    key.set(passphrase.subarray(0, 16));
    return { cipher: new SectorCipher(AES_PARAMS, key), physical: false };
  }
  const ext = cryptoExtension(h);
  const masterKey = await unlockMasterKey(luks.crypto, passphrase, async (offset, length) => {
    if (offset + length > ext.length) throw new BlockError('EINVAL', 'Request for data outside of extension header');
    const material = new Uint8Array(length);
    await file.read(ext.offset + offset, material);
    return material;
  });
  return { cipher: new SectorCipher(luks.crypto, masterKey), physical: true };
}
