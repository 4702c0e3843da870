// --help / --version through the installed bin, shaped like qemu-img's.
import { tmpdir } from 'node:os';
import { expect, it } from 'vitest';
import { run, TSEMU_IMG } from './harness.js';

it('--help has qemu-img\'s sections, exits 0, and lists only formats it has', () => {
  const r = run(TSEMU_IMG, ['--help'], tmpdir());
  expect(r.code).toBe(0);
  expect(r.stderr).toBe('');
  const real = run('qemu-img', ['--help'], tmpdir()).stdout;
  for (const heading of ['usage: qemu-img [standard options] command [command options]\n', '\nCommand syntax:\n', '\nSupported formats: ']) {
    expect(real).toContain(heading);
    expect(r.stdout).toContain(heading);
  }
  // Each implemented command's syntax line is qemu-img's own.
  for (const cmd of ['bench', 'check', 'compare', 'convert', 'create', 'dd', 'info', 'map', 'measure', 'resize']) {
    const line = real.split('\n').find((l) => l.startsWith(`  ${cmd} `))!;
    expect(r.stdout).toContain(`${line}\n`);
  }
  expect(/Supported formats: (.*)/.exec(r.stdout)![1]).not.toContain('vmdk');
});

it('--version names the qemu-img version it follows', () => {
  const r = run(TSEMU_IMG, ['--version'], tmpdir());
  expect(r.code).toBe(0);
  expect(r.stdout).toMatch(/^qemu-img version 7\.2\.22 \(tsemu-img [0-9.]+\)\n/);
});
