// qemu-img amend on LUKS key slots (a luks image's `state=active,new-secret=...`,
// a qcow2 image's `encrypt.state=...`): add a passphrase to a free (or, with
// --force, any) slot, or erase the slots given by index or by passphrase.
// The checks, their order and their words are QEMU 7.2's (its LUKS amend),
// as `qemu-img amend` prints them. A new slot gets a fresh salt, an iteration
// count timed for iter-time (2 s by default, at least 1000) and the master
// key AF-split and enciphered as at creation; an erased slot's material is
// overwritten with random bytes, its header entry disabled with zero salt and
// iterations. The header is written last, so a crash leaves the old slot state.
import { randomBytes, pbkdf2Sync } from 'node:crypto';
import { BlockError } from '@tsemu/block-core';
import { LUKS_SECTOR, SectorCipher, unlockMasterKey } from './luks-crypto.js';
import { afSplit, iterationsFor, MIN_ITERATIONS } from './luks-format.js';
import { LUKS_HEADER_BYTES, LUKS_SLOT_COUNT as SLOTS, parseLuksHeader, setKeySlot } from './luks-header.js';


/** The amend options (after QemuOpts checked names and number syntax), without a prefix. */
export interface KeyslotAmend {
  state: 'active' | 'inactive';
  newSecret?: string;
  oldSecret?: string;
  /** As QEMU's C int holds it (`keyslot=4294967296` is slot 0). */
  keyslot?: number;
  iterTimeMs?: number;
}

/** Reads and writes bytes relative to the LUKS header's start (a luks image's offset 0, a qcow2 image's crypto header). */
export interface LuksIo {
  read(offset: number, length: number): Promise<Uint8Array>;
  write(offset: number, data: Uint8Array): Promise<void>;
}

/** The keyslot options of `o` (names after `prefix`), read as QEMU's QAPI visitor reads them. */
export function keyslotAmendOptions(o: Record<string, string | undefined>, prefix = ''): KeyslotAmend {
  const state = o[`${prefix}state`];
  if (state === undefined) throw new BlockError('EINVAL', "Parameter 'state' is missing");
  if (state !== 'active' && state !== 'inactive') throw new BlockError('EINVAL', `Parameter 'state' does not accept value '${state}'`);
  const keyslot = o[`${prefix}keyslot`], iterTime = o[`${prefix}iter-time`];
  return {
    state,
    ...(o[`${prefix}new-secret`] !== undefined && { newSecret: o[`${prefix}new-secret`] }),
    ...(o[`${prefix}old-secret`] !== undefined && { oldSecret: o[`${prefix}old-secret`] }),
    // QemuOpts numbers are 64-bit unsigned ("-1" wraps); QEMU keeps the slot in a C int.
    ...(keyslot !== undefined && { keyslot: Number(BigInt.asIntN(32, BigInt.asUintN(64, BigInt(keyslot)))) }),
    ...(iterTime !== undefined && { iterTimeMs: Number(BigInt.asUintN(64, BigInt(iterTime))) }),
  };
}

/**
 * Applies `a` to the LUKS header at `io`'s start. `passphrase`: the image's
 * key secret (it unlocked the image); `secret(id)`: a secret object's bytes.
 */
export async function amendKeyslots(
  io: LuksIo, a: KeyslotAmend, passphrase: Uint8Array, secret: (id: string) => Uint8Array | undefined, force: boolean,
): Promise<void> {
  const lookup = (id: string): Uint8Array => {
    const s = secret(id);
    if (s === undefined) throw new BlockError('EINVAL', `No secret with id '${id}'`);
    return s;
  };
  const buf = await io.read(0, LUKS_HEADER_BYTES);
  const p = parseLuksHeader(buf).crypto;
  const active = (i: number): boolean => p.slots[i]!.active;
  const activeCount = p.slots.filter((s) => s.active).length;
  const readMaterial = (offset: number, length: number): Promise<Uint8Array> => io.read(offset, length);

  if (a.state === 'active') {
    if (a.newSecret === undefined) throw new BlockError('EINVAL', "'new-secret' is required to activate a keyslot");
    if (a.oldSecret !== undefined) throw new BlockError('EINVAL', "'old-secret' must not be given when activating keyslots");
    let slot: number;
    if (a.keyslot !== undefined) {
      slot = a.keyslot;
      if (slot < 0 || slot >= SLOTS) throw new BlockError('EINVAL', `Invalid keyslot ${slot >>> 0} specified, must be between 0 and ${SLOTS - 1}`);
    } else {
      slot = p.slots.findIndex((s) => !s.active);
      if (slot < 0) throw new BlockError('EINVAL', "Can't add a keyslot - all keyslots are in use");
    }
    if (!force && active(slot)) throw new BlockError('EINVAL', `Refusing to overwrite active keyslot ${slot} - please erase it first`);
    const masterKey = await unlockMasterKey(p, passphrase, readMaterial);
    const newPassphrase = lookup(a.newSecret);
    const s = p.slots[slot]!;
    const salt = randomBytes(32);
    const iterations = Math.max(MIN_ITERATIONS, iterationsFor(p.hash, p.keyBytes, a.iterTimeMs ?? 2000));
    const material = afSplit(masterKey, s.stripes, p.hash);
    new SectorCipher(p, pbkdf2Sync(newPassphrase, salt, iterations, p.keyBytes, p.hash)).encrypt(material, 0);
    await io.write(s.keyOffset * LUKS_SECTOR, material);
    setKeySlot(buf, slot, { iterations, salt });
    await io.write(0, buf);
    return;
  }

  if (a.newSecret !== undefined) throw new BlockError('EINVAL', "'new-secret' must not be given when erasing keyslots");
  if (a.iterTimeMs !== undefined) throw new BlockError('EINVAL', "'iter-time' must not be given when erasing keyslots");
  const oldPassphrase = a.oldSecret === undefined ? undefined : lookup(a.oldSecret);
  /** Whether slot i opens with the old passphrase (an inactive slot never does). */
  const holdsOld = async (i: number): Promise<boolean> => {
    if (!active(i)) return false;
    try {
      await unlockMasterKey({ ...p, slots: p.slots.map((s, k) => (k === i ? s : { ...s, active: false })) }, oldPassphrase!, readMaterial);
      return true;
    } catch (err) {
      if (err instanceof BlockError && err.code === 'EPERM') return false;
      throw err;
    }
  };
  const erase: number[] = [];
  if (a.keyslot !== undefined) {
    const slot = a.keyslot;
    if (slot < 0 || slot >= SLOTS) throw new BlockError('EINVAL', `Invalid keyslot ${slot} specified, must be between 0 and ${SLOTS - 1}`);
    if (oldPassphrase !== undefined && !(await holdsOld(slot))) {
      throw new BlockError('EINVAL', `Given keyslot ${slot} doesn't contain the given old password for erase operation`);
    }
    if (!force && !active(slot)) throw new BlockError('EINVAL', `Given keyslot ${slot} is already erased (inactive) `);
    if (!force && activeCount === 1) {
      throw new BlockError('EINVAL', `Attempt to erase the only active keyslot ${slot} which will erase all the data in the image irreversibly - refusing operation`);
    }
    erase.push(slot);
  } else if (oldPassphrase !== undefined) {
    for (let i = 0; i < SLOTS; i++) if (await holdsOld(i)) erase.push(i);
    if (erase.length === 0) throw new BlockError('EINVAL', 'No keyslots match given (old) password for erase operation');
    if (!force && erase.length === activeCount) {
      throw new BlockError('EINVAL', 'All the active keyslots match the (old) password that was given and erasing them will erase all the data in the image irreversibly - refusing operation');
    }
  } else {
    throw new BlockError('EINVAL', 'To erase keyslot(s), either explicit keyslot index or the password currently contained in them must be given');
  }
  for (const slot of erase) {
    const s = p.slots[slot]!;
    await io.write(s.keyOffset * LUKS_SECTOR, randomBytes(p.keyBytes * s.stripes));
    setKeySlot(buf, slot, undefined);
  }
  await io.write(0, buf);
}
