import { fileURLToPath } from 'node:url';
import { defineConfig } from 'tsup';
import { appBuildOptions } from '../../scripts/tsup-app.js';

// The code cache is trained on what scripts and benches run most: create, info,
// map, check and convert in both directions between raw and qcow2.
const train = [
  ['--version'],
  ['create', '-f', 'qcow2', '{tmp}/t.qcow2', '64M'],
  ['info', '{tmp}/t.qcow2'],
  ['convert', '-O', 'qcow2', '{tmp}/disk.raw', '{tmp}/c.qcow2'],
  ['convert', '-O', 'raw', '{tmp}/c.qcow2', '{tmp}/c.raw'],
  ['map', '--output=json', '{tmp}/c.qcow2'],
  ['check', '{tmp}/c.qcow2'],
];

export default defineConfig(appBuildOptions(fileURLToPath(new URL('.', import.meta.url)), { train }));
