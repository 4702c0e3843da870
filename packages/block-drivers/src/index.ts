// The tools' set of drivers in one place: qemu-img, qemu-io and qemu-nbd call
// registerAllDrivers() so every format and protocol is there, as in QEMU's
// binaries. A program that wants fewer imports the driver packages it needs.
import '@tsemu/block-qcow2';
import '@tsemu/block-luks';
import '@tsemu/block-nbd';
import { registerSheepdog } from '@tsemu/block-sheepdog';

/** Registers qcow2, luks, nbd and sheepdog (file, raw, null-co and blkdebug come with block-core). Safe to call again. */
export function registerAllDrivers(): void {
  registerSheepdog();
}

// --object for the tools (qemu-img, qemu-io): QEMU's user-creatable objects.
export { createUserObject, resetUserObjects, findSecret, userObjectHelp, checkObjectId, IOTHREAD_OPTIONS, UserObjectError, type ObjectHelp } from './user-objects.js';
