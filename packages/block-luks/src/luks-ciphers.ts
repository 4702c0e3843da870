// The cipher algorithms a LUKS1 volume may name, as QEMU 7.2 knows them
// (aes, serpent, twofish, cast5), and its checks of a cipher, mode and ESSIV
// hash, in its words: at create (luksCreateParams) and when a header is read
// (parseLuksHeader). AES runs on node:crypto (luks-crypto.ts); the others are
// ours (cipher-*.ts).
import { createHash } from 'node:crypto';
import { BlockError } from '@tsemu/block-core';
import type { BlockCipher } from './block-cipher.js';
import { Cast5 } from './cipher-cast5.js';
import { Serpent } from './cipher-serpent.js';
import { Twofish } from './cipher-twofish.js';

interface LuksAlgorithm {
  /** Key sizes in bytes (of one key: an XTS key holds two). */
  keySizes: readonly number[];
  blockSize: number;
  /** How QEMU names the family when no ESSIV key size fits ("No Serpent cipher ..."); cast5 has no family. */
  family?: string;
  /** Whether QEMU (nettle) runs it in XTS mode: a 16-byte block. */
  xts: boolean;
  /** Our implementation; AES has none (node:crypto). */
  create?: (key: Uint8Array) => BlockCipher;
}

export const LUKS_ALGORITHMS: Readonly<Record<string, LuksAlgorithm>> = {
  aes: { keySizes: [16, 24, 32], blockSize: 16, family: 'AES', xts: true },
  serpent: { keySizes: [16, 24, 32], blockSize: 16, family: 'Serpent', xts: true, create: (key) => new Serpent(key) },
  twofish: { keySizes: [16, 24, 32], blockSize: 16, family: 'Twofish', xts: true, create: (key) => new Twofish(key) },
  cast5: { keySizes: [16], blockSize: 8, xts: false, create: (key) => new Cast5(key) },
};

const notSupported = (message: string): BlockError => new BlockError('ENOTSUP', message);

/** The algorithm of a QEMU cipher name ("serpent-256"); QEMU's "Algorithm 'des' not supported" for one LUKS has no name for. */
export function luksAlgorithm(cipherAlg: string): { name: string; keyBytes: number } {
  const dash = cipherAlg.lastIndexOf('-');
  const name = dash < 0 ? cipherAlg : cipherAlg.slice(0, dash);
  if (LUKS_ALGORITHMS[name] === undefined || dash < 0) throw notSupported(`Algorithm '${cipherAlg}' not supported`);
  return { name, keyBytes: Number(cipherAlg.slice(dash + 1)) / 8 };
}

const DIGEST_BYTES = new Map<string, number>();

/** A hash's digest length in bytes (asked of node:crypto once per hash). */
export function digestBytes(hash: string): number {
  let n = DIGEST_BYTES.get(hash);
  if (n === undefined) DIGEST_BYTES.set(hash, (n = createHash(hash).digest().length));
  return n;
}

/**
 * The key length of the ESSIV cipher (the same algorithm keyed with the hash
 * of the volume key): the algorithm's own size when the digest has it, else
 * the AES / Serpent / Twofish size the digest fills; QEMU's refusals otherwise.
 */
export function essivKeyBytes(name: string, keyBytes: number, hash: string): number {
  const digest = digestBytes(hash);
  if (digest === keyBytes) return digest;
  const alg = LUKS_ALGORITHMS[name]!;
  if (alg.family === undefined) throw notSupported(`Cipher ${name}-${keyBytes * 8} not supported with essiv`);
  if (!alg.keySizes.includes(digest)) throw notSupported(`No ${alg.family} cipher with key size ${digest} available`);
  return digest;
}

/** QEMU's (nettle's) "Unsupported cipher mode xts" for CAST-128's 8-byte block; every algorithm has ecb, cbc and ctr. */
export function checkCipherMode(name: string, mode: string): void {
  if (mode === 'xts' && !LUKS_ALGORITHMS[name]!.xts) throw notSupported(`Unsupported cipher mode ${mode}`);
}
