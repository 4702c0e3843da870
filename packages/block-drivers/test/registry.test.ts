import { expect, test } from 'vitest';
import { findDriver, findProtocolDriver, listDrivers } from '@tsemu/block-core';
import { registerAllDrivers } from '@tsemu/block-drivers';

test('every driver the tools offer is registered, once', () => {
  registerAllDrivers();
  registerAllDrivers();
  for (const name of ['file', 'raw', 'qcow2', 'nbd', 'sheepdog', 'null-co', 'blkdebug']) {
    expect(findDriver(name)?.name, name).toBe(name);
  }
  expect(findProtocolDriver('nbd+unix:///disk?socket=/tmp/nbd.sock')?.name).toBe('nbd');
  expect(findProtocolDriver('sheepdog+tcp://127.0.0.1:7000/vdi')?.name).toBe('sheepdog');
  const names = listDrivers().map((d) => d.name);
  expect(new Set(names).size).toBe(names.length);
});
