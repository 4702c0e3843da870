// main() in-process: dispatch, usage errors, help and version, exit codes.
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { COMMANDS, main } from '../src/index.js';
import { runMain } from './run-main.js';

const dir = mkdtempSync(join(tmpdir(), 'qemu-img-main-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('main', () => {
  it('needs a command and knows its commands', async () => {
    expect(await runMain([])).toEqual({ stdout: '', stderr: "qemu-img: Not enough arguments\nTry 'qemu-img --help' for more information\n", code: 1 });
    expect((await runMain(['frobnicate'])).stderr).toBe("qemu-img: Command not found: frobnicate\nTry 'qemu-img --help' for more information\n");
    expect((await runMain(['-f', 'raw', 'info', 'x'])).stderr).toMatch(/^qemu-img: unrecognized option '-f'\n/);
  });

  it('prints help (exit 0) from the top level and from a sub-command', async () => {
    for (const argv of [['--help'], ['-h'], ['info', '-h'], ['convert', '--help']]) {
      const r = await runMain(argv);
      expect(r.code).toBe(0);
      expect(r.stdout).toMatch(/^qemu-img version 7\.2\.22 /);
      expect(r.stdout).toContain('usage: qemu-img [standard options] command [command options]\n');
    }
  });

  it('lists implemented commands and registered formats only', async () => {
    const { stdout } = await runMain(['--help']);
    expect(stdout).toContain('\n  convert [--object objectdef]');
    expect(stdout).toContain('\n  snapshot [--object objectdef]');
    expect(stdout).toContain('\n  bitmap (--merge SOURCE | --add');
    const formats = /\nSupported formats: (.*)\n/.exec(stdout)![1]!.split(' ');
    expect(formats).toContain('raw');
    expect(formats).toContain('file');
    expect(formats).not.toContain('vvfat');
  });

  it('prints the version with --version, -V and a unique prefix', async () => {
    for (const argv of [['--version'], ['-V'], ['--vers']]) {
      const r = await runMain(argv);
      expect(r.code).toBe(0);
      expect(r.stdout).toMatch(/^qemu-img version 7\.2\.22 \(tsemu-img [0-9.]+\)\n/);
    }
  });

  it('has a dispatch entry for every qemu-img 7.2 command', () => {
    const all = ['amend', 'bench', 'bitmap', 'check', 'commit', 'compare', 'convert', 'create', 'dd', 'info', 'map', 'measure', 'snapshot', 'rebase', 'resize'];
    expect([...COMMANDS.keys()].sort()).toEqual(all.sort());
  });

  it('runs create, info and resize end to end in-process', async () => {
    const img = join(dir, 'm.raw');
    expect(await runMain(['create', '-f', 'raw', img, '2M'])).toEqual({ stdout: `Formatting '${img}', fmt=raw size=2097152\n`, stderr: '', code: 0 });
    const info = await runMain(['info', '--output=json', '-f', 'raw', img]);
    expect(JSON.parse(info.stdout)).toMatchObject({ 'virtual-size': 2097152, filename: img, format: 'raw' });
    expect(await runMain(['resize', '-f', 'raw', img, '+1M'])).toEqual({ stdout: 'Image resized.\n', stderr: '', code: 0 });
    expect(statSync(img).size).toBe(3 * 1024 * 1024);
  });

  it('runs bitmap (the last command to arrive): a missing image fails to open as in qemu-img', async () => {
    const missing = join(dir, 'x.qcow2');
    expect(await runMain(['bitmap', '--add', missing, 'b0'])).toEqual({
      stdout: '', stderr: `qemu-img: Could not open '${missing}': Could not open '${missing}': No such file or directory\n`, code: 1,
    });
  });
});
