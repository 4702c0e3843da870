import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { measuredEnv, removedEnv, runCommand } from '../src/index.js';

describe('measured environment', () => {
  it('drops NODE_EXTRA_CA_CERTS unless BENCH_KEEP_ENV=1, and keeps everything else', () => {
    const env = { NODE_EXTRA_CA_CERTS: '/etc/ca.pem', PATH: '/bin', HOME: '/root' };
    expect(measuredEnv(env)).toEqual({ PATH: '/bin', HOME: '/root' });
    expect(env.NODE_EXTRA_CA_CERTS).toBe('/etc/ca.pem'); // the caller's object is not changed
    expect(removedEnv(env)).toEqual(['NODE_EXTRA_CA_CERTS']);
    const kept = { ...env, BENCH_KEEP_ENV: '1' };
    expect(measuredEnv(kept)).toBe(kept);
    expect(removedEnv(kept)).toEqual([]);
    expect(removedEnv({ PATH: '/bin' })).toEqual([]);
  });

  it('spawned commands do not see the variable', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'bench-env-'));
    const saved = process.env['NODE_EXTRA_CA_CERTS'];
    process.env['NODE_EXTRA_CA_CERTS'] = '/nonexistent/ca.pem';
    try {
      await runCommand(['sh', '-c', 'echo "${NODE_EXTRA_CA_CERTS-unset} $BENCH_ENV_PROBE" > env.txt'], { dir });
      await runCommand({ argv: ['sh', '-c', 'echo "${NODE_EXTRA_CA_CERTS-unset} $BENCH_ENV_PROBE" >> env.txt'], env: { BENCH_ENV_PROBE: 'x' } }, { dir });
      expect(await readFile(join(dir, 'env.txt'), 'utf8')).toBe('unset \nunset x\n');
    } finally {
      if (saved === undefined) delete process.env['NODE_EXTRA_CA_CERTS'];
      else process.env['NODE_EXTRA_CA_CERTS'] = saved;
      await rm(dir, { recursive: true, force: true });
    }
  });
});
