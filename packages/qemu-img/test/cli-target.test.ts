// The Nx target: `pnpm nx run qemu-img:cli -- info x.img` from a sub-directory
// resolves relative paths against the directory the user is in.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, expect, it } from 'vitest';

const here = fileURLToPath(new URL('.', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'qemu-img-cli-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

it('runs info through nx from a sub-directory with a relative path', () => {
  const img = join(dir, 'x.img');
  expect(spawnSync('qemu-img', ['create', '-f', 'raw', img, '3M']).status).toBe(0);
  const cwd = resolve(here); // a sub-directory of the workspace
  const rel = relative(cwd, img);
  const r = spawnSync('pnpm', ['nx', 'run', 'qemu-img:cli', '--', 'info', '-f', 'raw', rel], { cwd, encoding: 'utf8', timeout: 120_000 });
  // On failure the Nx error (e.g. a broken project.json elsewhere) is in stderr.
  expect(r.stdout, r.stderr).toContain(`image: ${rel}\nfile format: raw\nvirtual size: 3 MiB (3145728 bytes)\n`);
  expect(r.status).toBe(0);
});
