// @tsemu/block-qcow2: the qcow2 format driver. Importing the package
// registers it with block-core (registerDriver(qcow2Driver)).
import { registerDriver } from '@tsemu/block-core';
import { qcow2Driver } from './driver.js';

export { qcow2Driver } from './driver.js';
export { Qcow2Header } from './header.js';
export { Qcow2DriverState, formatSpecificData } from './driver-state.js';
export { Qcow2Image, Qcow2CorruptionError, setCorruptionReporter } from './image.js';
export { Qcow2Bitmaps, setRange, type Qcow2Bitmap } from './bitmaps.js';
export { openQcow2Image, readHeader, validateHeader, type Qcow2OpenOptions } from './open.js';
export { formatQcow2 } from './create.js';
export { measureQcow2, preallocatedSize, refcountMetadataSize, type Qcow2Measure } from './measure.js';
export { Qcow2Checker, repairDirtyImage, type Qcow2CheckResult, type Qcow2Repair } from './check.js';
export { readSnapshotTable, encodeSnapshotTable, type Qcow2Snapshot } from './snapshot-table.js';
export { Qcow2Snapshots, type SnapshotCreateOptions } from './snapshots.js';
export { parseCreateOptions, QCOW2_CREATE_OPTIONS, type Qcow2CreateParams } from './create-options.js';
export type { Qcow2FileNode } from './host-file.js';

registerDriver(qcow2Driver);
