// LUKS creation options as QEMU 7.2's QAPI visitor reads them: the same for a
// luks image (`cipher-alg=...`) and a qcow2 one (`encrypt.cipher-alg=...`).
import { BlockError, type SecretLookup } from '@tsemu/block-core';

const CIPHER_ALGS = [
  'aes-128', 'aes-192', 'aes-256', 'des', '3des', 'cast5-128',
  'serpent-128', 'serpent-192', 'serpent-256', 'twofish-128', 'twofish-192', 'twofish-256',
];
const HASH_ALGS = ['md5', 'sha1', 'sha224', 'sha256', 'sha384', 'sha512', 'ripemd160'];
/** The enumerated options, in the order QEMU's visitor reads them. */
const LUKS_ENUMS: ReadonlyArray<readonly [string, readonly string[]]> = [
  ['cipher-alg', CIPHER_ALGS],
  ['cipher-mode', ['ecb', 'cbc', 'xts', 'ctr']],
  ['ivgen-alg', ['plain', 'plain64', 'essiv']],
  ['ivgen-hash-alg', HASH_ALGS],
  ['hash-alg', HASH_ALGS],
];

/** Refuses a value outside an option's enumeration ("Parameter 'cipher-alg' does not accept value 'x'"). */
export function checkLuksEnums(o: Record<string, string | undefined>, prefix = ''): void {
  for (const [name, values] of LUKS_ENUMS) {
    const v = o[`${prefix}${name}`];
    if (v !== undefined && !values.includes(v)) throw new BlockError('EINVAL', `Parameter '${name}' does not accept value '${v}'`);
  }
}

/**
 * The key secret option (`key-secret`, qcow2's `encrypt.key-secret`) as QEMU
 * checks it before it derives a key: given, and naming a secret object.
 */
export function checkKeySecret(option: string, id: string | undefined, secret: SecretLookup | undefined): void {
  if (id === undefined) throw new BlockError('EINVAL', `Parameter '${option}' is required for cipher`);
  if (secret?.(id) === undefined) throw new BlockError('EINVAL', `No secret with id '${id}'`);
}
