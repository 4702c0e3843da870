export { LinuxProcess, type ProcessOptions } from './process.js';
export { GuestExit, E } from './errno.js';
export { parseElf, ElfError, type ElfImage, type ElfSegment } from './elf.js';
export { loadElf, ARM_HWCAP } from './loader.js';
export { AddressSpace } from './address-space.js';
export { SIG, dieBySignal } from './signals.js';
// Re-exported for the app's debug output, so it depends on linux-user only.
export { formatIr, generateSource, type IrBlock } from '@tsemu/tcg';
