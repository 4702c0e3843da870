// qcow2's encrypt.* create options, checked where and as QEMU 7.2 checks them.
// tsemu writes no encrypted images: it gives QEMU's errors up to the point
// where QEMU would derive a key from the secret, and there says "not supported".
import { BlockError, type SecretLookup } from '@tsemu/block-core';
import { checkKeySecret, checkLuksEnums } from '@tsemu/block-luks';

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


/**
 * After every other check, QEMU looks the key secret up to set the encryption
 * up; where it would go on, tsemu stops.
 */
export function refuseEncryption(o: Options, secret: SecretLookup | undefined): never {
  checkKeySecret('encrypt.key-secret', o['encrypt.key-secret'], secret);
  throw new BlockError('ENOTSUP', 'qcow2: creating encrypted images is not supported');
}

/** measure: only a LUKS header changes the size ('aes', and formats create would refuse, measure as plain images). */
export function measureEncryption(o: Options, secret: SecretLookup | undefined): void {
  if (o['encrypt.format'] !== 'luks') return;
  checkLuksEnums(o, 'encrypt.');
  refuseEncryption(o, secret);
}
