import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { defineBench, describeCommand, repeatsFromEnv, runBench, type BenchContext, type Side } from '../src/index.js';

/** A fake clock that commands advance, so timings are exact. */
function fakeClock() {
  let t = 0;
  return { now: () => t, spend: (ms: number) => { t += ms; } };
}

describe('runBench', () => {
  it('interleaves tsemu and qemu per repeat, preparing before each run', async () => {
    const events: string[] = [];
    const def = defineBench({
      name: 'order',
      setup: () => { events.push('setup'); },
      cases: [
        {
          label: 'a',
          tsemu: () => { events.push('tsemu'); },
          qemu: () => { events.push('qemu'); },
          prepare: (_ctx: BenchContext, side: Side) => { events.push(`prepare ${side}`); },
          teardown: () => { events.push('teardown a'); },
        },
        { label: 'b', tsemu: () => { events.push('tsemu b'); }, qemu: () => { events.push('qemu b'); } },
      ],
    });
    const result = await runBench(def, { repeats: 2 });
    expect(events).toEqual([
      'setup',
      'prepare tsemu', 'tsemu', 'prepare qemu', 'qemu',
      'prepare tsemu', 'tsemu', 'prepare qemu', 'qemu',
      'teardown a',
      'tsemu b', 'qemu b', 'tsemu b', 'qemu b',
    ]);
    expect(result.cases.map((c) => c.samples.tsemu.length)).toEqual([2, 2]);
  });

  it('reports the minimum of the repeats for each side and the ratio', async () => {
    const clock = fakeClock();
    const tsemuTimes = [50, 30, 40];
    const qemuTimes = [25, 20, 35];
    const def = defineBench({
      name: 'min',
      goal: 1.4,
      cases: [{ label: 'c', tsemu: () => clock.spend(tsemuTimes.shift()!), qemu: () => clock.spend(qemuTimes.shift()!) }],
    });
    const [c] = (await runBench(def, { repeats: 3, now: clock.now })).cases;
    expect(c!.samples).toEqual({ tsemu: [50, 30, 40], qemu: [25, 20, 35] });
    expect(c!.tsemuMs).toBe(30);
    expect(c!.qemuMs).toBe(20);
    expect(c!.ratio).toBe(1.5);
    expect(c!.goal).toBe(1.4);
    expect(c!.met).toBe(false);
  });

  it('does not time prepare', async () => {
    const clock = fakeClock();
    const def = defineBench({
      name: 'prep',
      cases: [{ label: 'c', prepare: () => clock.spend(1000), tsemu: () => clock.spend(12), qemu: () => clock.spend(10) }],
    });
    const [c] = (await runBench(def, { repeats: 1, now: clock.now })).cases;
    expect([c!.tsemuMs, c!.qemuMs]).toEqual([12, 10]);
    expect(c!.met).toBe(true);
  });

  it('runs argv commands in the scratch dir, records a failing side, keeps timing the other, tears down and goes on', async () => {
    let dir = '';
    const node = process.execPath;
    const def = defineBench({
      name: 'argv',
      setup: async (d) => { dir = d; await writeFile(join(d, 'in.txt'), 'hello'); },
      cases: [
        {
          label: 'ok',
          // Reads stdin from a file in the dir and writes beside it: proves cwd and stdin wiring.
          tsemu: { argv: [node, '-e', 'require("fs").writeFileSync("out.txt", require("fs").readFileSync(0))'], stdin: 'in.txt' },
          qemu: [node, '-e', 'process.exit(0)'],
          teardown: async (ctx) => { expect(await readFile(join(ctx.dir, 'out.txt'), 'utf8')).toBe('hello'); },
        },
        {
          label: 'fails',
          tsemu: [node, '-e', '0'],
          qemu: [node, '-e', 'console.error("qemu-io: bad thing"); process.exit(3)'],
        },
        { label: 'missing', tsemu: ['/nonexistent/tsemu-io'], qemu: [node, '-e', '0'] },
      ],
    });
    const result = await runBench(def, { repeats: 2 });
    const [ok, fails, missing] = result.cases;
    expect(ok!.error).toBeUndefined();
    expect(ok!.tsemuMs).toBeGreaterThan(0);
    expect(ok!.ratio).toBeGreaterThan(0);
    expect(fails!.error).toMatch(/^qemu: .*exited with code 3: qemu-io: bad thing$/);
    expect(fails!.samples).toMatchObject({ tsemu: [expect.any(Number), expect.any(Number)], qemu: [] });
    expect(fails!.met).toBeUndefined();
    expect(missing!.error).toMatch(/^tsemu: .*ENOENT/);
    expect(missing!.samples.qemu).toHaveLength(2); // the working side still reports its time
    expect(existsSync(dir)).toBe(false); // scratch dir removed
  });

  it('verifies each run untimed and fails the side that produced a wrong result', async () => {
    const clock = fakeClock();
    let out = '';
    const def = defineBench({
      name: 'verify',
      cases: [{
        label: 'c',
        prepare: () => { out = ''; },
        tsemu: () => { clock.spend(5); }, // "fast" but does nothing
        qemu: () => { clock.spend(10); out = 'done'; },
        verify: (_ctx: BenchContext, side: Side) => {
          clock.spend(1000);
          if (out !== 'done') throw new Error(`${side} wrote nothing`);
        },
      }],
    });
    const [c] = (await runBench(def, { repeats: 2, now: clock.now })).cases;
    expect(c!.error).toBe('tsemu: wrong result (verify failed): tsemu wrote nothing');
    expect(c!.ratio).toBeUndefined();
    expect(c!.samples.qemu).toEqual([10, 10]);
  });

  it('measures CPU time with the clock for the kind of command, and judges it under the cpu metric', async () => {
    const clock = fakeClock();
    const cpu = { children: 0, self: 0 };
    const asked: string[] = [];
    const def = defineBench({
      name: 'cpu',
      metric: 'cpu',
      goal: 3,
      cases: [{
        label: 'c',
        // The tsemu side burns 40 ms of CPU in 10 ms of wall time (threads); qemu 10 in 10.
        tsemu: () => { clock.spend(10); cpu.self += 40; },
        qemu: () => { clock.spend(10); cpu.self += 10; },
      }],
    });
    const result = await runBench(def, { repeats: 2, now: clock.now, cpuNow: (whose) => { asked.push(whose); return cpu[whose]; } });
    const [c] = result.cases;
    expect(result.metric).toBe('cpu');
    expect(asked.every((w) => w === 'self')).toBe(true);
    expect(c!.cpuSamples).toEqual({ tsemu: [40, 40], qemu: [10, 10] });
    expect(c!.wallRatio).toBe(1);
    expect(c!.ratio).toBe(4);
    expect(c!.met).toBe(false);
  });

  it("counts a child's CPU time (user + sys) and reads work from its stderr", async () => {
    const node = process.execPath;
    // 300 ms of the child's own CPU (not wall time, which a loaded machine stretches); the parent only waits.
    const burn = 'const t = process.cpuUsage(); while (process.cpuUsage(t).user < 300000); console.error("done: 12345 units")';
    const def = defineBench({
      name: 'child-cpu',
      metric: 'cpu',
      cases: [{
        label: 'burn',
        tsemu: [node, '-e', burn],
        qemu: [node, '-e', 'setTimeout(() => {}, 300)'],
        work: { unit: 'U', count: (stderr) => Number(/(\d+) units/.exec(stderr)?.[1]) },
      }],
    });
    const [c] = (await runBench(def, { repeats: 1 })).cases;
    expect(c!.error).toBeUndefined();
    expect(c!.tsemuCpuMs).toBeGreaterThanOrEqual(250);
    // The sleeping side's CPU is its start-up only, far below its wall time.
    expect(c!.qemuCpuMs!).toBeLessThan(c!.qemuMs! - 150);
    expect(c!.work?.count).toBe(12345);
  });

  it('takes the work count from one untimed run of work.command when given', async () => {
    const node = process.execPath;
    let prepared = 0;
    const def = defineBench({
      name: 'count-run',
      cases: [{
        label: 'quiet',
        prepare: () => { prepared++; },
        // The timed runs print a count too: it must not be the one used.
        tsemu: [node, '-e', 'console.error("7 units")'],
        qemu: () => {},
        work: { unit: 'U', count: (stderr) => Number(/(\d+) units/.exec(stderr)?.[1]) || undefined, command: [node, '-e', 'console.error("4242 units")'] },
      }],
    });
    const [c] = (await runBench(def, { repeats: 2 })).cases;
    expect(c!.error).toBeUndefined();
    expect(c!.work?.count).toBe(4242);
    expect(prepared).toBe(2 * 2 + 1); // each timed run of each side, then the counting run
  });

  it('reports a failing counting run as the tsemu side failing', async () => {
    const def = defineBench({
      name: 'count-run-fails',
      cases: [{
        label: 'x', tsemu: () => {}, qemu: () => {},
        work: { unit: 'U', count: () => 1, command: [process.execPath, '-e', 'process.exit(3)'] },
      }],
    });
    const [c] = (await runBench(def, { repeats: 1 })).cases;
    expect(c!.error).toMatch(/^tsemu: counting run: /);
    expect(c!.work).toBeUndefined();
  });

  it('marks every case failed when setup fails', async () => {
    const def = defineBench({
      name: 'bad-setup',
      setup: () => { throw new Error('no space'); },
      cases: [{ label: 'x', tsemu: () => {}, qemu: () => {} }],
    });
    const [c] = (await runBench(def, { repeats: 1 })).cases;
    expect(c!.error).toBe('setup failed: no space');
  });
});

describe('repeatsFromEnv', () => {
  it('defaults to 5 and accepts positive integers only', () => {
    expect(repeatsFromEnv({})).toBe(5);
    expect(repeatsFromEnv({ BENCH_REPEATS: '3' })).toBe(3);
    expect(() => repeatsFromEnv({ BENCH_REPEATS: '0' })).toThrow(/BENCH_REPEATS/);
    expect(() => repeatsFromEnv({ BENCH_REPEATS: 'x' })).toThrow(/BENCH_REPEATS/);
  });
});

describe('defineBench', () => {
  it('rejects empty and duplicate cases', () => {
    expect(() => defineBench({ name: 'x', cases: [] })).toThrow(/no cases/);
    const c = { label: 'a', tsemu: () => {}, qemu: () => {} };
    expect(() => defineBench({ name: 'x', cases: [c, c] })).toThrow(/duplicate/);
  });
});

describe('describeCommand', () => {
  it('quotes arguments with spaces and shortens long argv', () => {
    expect(describeCommand(['qemu-io', '-c', "write -P 0x5a 0 1M", 'it\'s'])).toBe("qemu-io -c 'write -P 0x5a 0 1M' 'it'\\''s'");
    expect(describeCommand(Array.from({ length: 10 }, (_, i) => `a${i}`))).toBe('a0 a1 a2 a3 a4 a5 a6 a7 ... (10 args)');
  });
});
