// @tsemu/block-luks: LUKS1 headers, key slots and sector ciphers. Importing the package registers the luks
// format driver with block-core (registerDriver(luksDriver)).
import { registerDriver } from '@tsemu/block-core';
import { luksDriver } from './driver.js';

export { luksDriver } from './driver.js';
export { isLuksHeader, LUKS_HEADER_BYTES, orderKeys, parseLuksHeader, type LuksHeader } from './luks-header.js';
export { checkKeySecret, checkLuksEnums } from './luks-options.js';
export { amendKeyslots, keyslotAmendOptions, type KeyslotAmend, type LuksIo } from './luks-keyslots.js';
export { LUKS_SECTOR, SectorCipher, unlockMasterKey, type LuksCryptoParams } from './luks-crypto.js';
export { formatLuks, luksCreateParams, luksPayloadOffset, type LuksCreateParams, type LuksFormatted } from './luks-format.js';

registerDriver(luksDriver);
