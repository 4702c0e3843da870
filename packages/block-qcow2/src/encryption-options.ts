// qcow2's encrypt.* create options, checked where and as QEMU 7.2 checks them,
// then turned into what create needs: the scheme, the passphrase and, for
// LUKS, the volume's cipher settings.
import { BlockError, type SecretLookup } from '@tsemu/block-core';
import { checkKeySecret, checkLuksEnums, luksCreateParams, luksPayloadOffset, type LuksCreateParams } from '@tsemu/block-luks';

type Options = Record<string, string>;

function invalid(message: string): BlockError {
  return new BlockError('EINVAL', message);
}

/**
 * The deprecated `encryption` as QEMU maps it onto encrypt.format: 'on' is
 * 'aes', 'off' nothing, and any other spelling of a bool (yes, true ...) is
 * taken for a format name, which the format check then refuses.
 */
function aliasFormat(o: Options): string | undefined {
  const v = o.encryption;
  return v === 'on' ? 'aes' : v === 'off' ? undefined : v;
}

/** QEMU resolves the alias before it reads any option. */
export function checkEncryptionAlias(o: Options): void {
  if (aliasFormat(o) !== undefined && o['encrypt.format'] !== undefined) {
    throw invalid("'encrypt.format' and its alias 'encryption' can't be used at the same time");
  }
}

/** encrypt.* as QEMU's visitor reads them, right after the version: 'aes', 'luks', or undefined for a plain image. */
export function encryptionFormat(o: Options): 'aes' | 'luks' | undefined {
  const format = aliasFormat(o) ?? o['encrypt.format'];
  if (format === undefined) {
    if (Object.keys(o).some((k) => k.startsWith('encrypt.'))) throw invalid("Parameter 'encrypt.format' is missing");
    return undefined;
  }
  if (format === 'luks') {
    checkLuksEnums(o, 'encrypt.');
    return format;
  }
  if (format !== 'aes') throw invalid(`Parameter 'format' does not accept value '${format}'`);
  // The old qcow AES scheme takes a key secret and nothing else.
  const extra = Object.keys(o).find((k) => k.startsWith('encrypt.') && k !== 'encrypt.format' && k !== 'encrypt.key-secret');
  if (extra !== undefined) throw invalid(`Parameter '${extra}' is unexpected`);
  return format;
}


/** What an encrypted image's create needs. */
export interface Qcow2EncryptionSetup {
  format: 'aes' | 'luks';
  passphrase: Uint8Array;
  /** LUKS: the volume's cipher, hashes and PBKDF2 time. */
  luks?: LuksCreateParams;
}

/** After every other check, QEMU looks the key secret up to set the encryption up. */
export function encryptionSetup(o: Options, format: 'aes' | 'luks', secret: SecretLookup | undefined): Qcow2EncryptionSetup {
  checkKeySecret('encrypt.key-secret', o['encrypt.key-secret'], secret);
  const passphrase = secret!(o['encrypt.key-secret']!)!;
  return format === 'luks' ? { format, passphrase, luks: luksCreateParams(o, 'encrypt.') } : { format, passphrase };
}

/** measure: a LUKS header's bytes (whole clusters) on top of the plain image; 'aes' adds nothing. */
export function measureEncryption(o: Options, secret: SecretLookup | undefined, clusterSize: number): number {
  if (o['encrypt.format'] !== 'luks') return 0;
  checkLuksEnums(o, 'encrypt.');
  checkKeySecret('encrypt.key-secret', o['encrypt.key-secret'], secret);
  const p = luksCreateParams(o, 'encrypt.');
  return Math.ceil(luksPayloadOffset(p.cipherAlg, p.mode) / clusterSize) * clusterSize;
}
