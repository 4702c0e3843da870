// Durability with real processes: a writer child (fixtures/durability-writer.ts)
// is SIGKILLed at a seeded random point; we reopen the image and check the
// promise of each cache mode. A process kill does not drop the host page
// cache, so surviving data alone proves little: each ack line also carries
// the writer's completed-fdatasync count, and we check the *mechanism* (a
// sync completed before every ack under WCE off; no per-write sync under
// WCE on; none at all under unsafe). Reproduce with DURABILITY_SEED=<seed>.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { openImage } from '@tsemu/block-core';
import { BLOCK, blockFor } from './fixtures/durability-blocks.js';
import type { WriterConfig } from './fixtures/durability-writer.js';

const here = dirname(fileURLToPath(import.meta.url));
const repoRoot = resolve(here, '../../..');
const writerScript = join(here, 'fixtures/durability-writer.ts');
const baseSeed = process.env.DURABILITY_SEED ? Number(process.env.DURABILITY_SEED) : Math.floor(Math.random() * 2 ** 31);
const BLOCKS = 2048;

/** mulberry32: small seeded PRNG so a failing kill point can be replayed. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

type Line =
  | { kind: 'ready'; bypass: string }
  | { kind: 'ack'; seq: number; syncs: number }
  | { kind: 'flushstart'; id: number }
  | { kind: 'flushdone'; id: number; syncs: number }
  | { kind: 'wce'; on: boolean }
  | { kind: 'done' };

function parse(line: string): Line {
  const [k, a, b] = line.split(' ');
  switch (k) {
    case 'ready': return { kind: 'ready', bypass: a };
    case 'ack': return { kind: 'ack', seq: Number(a), syncs: Number(b) };
    case 'flushstart': return { kind: 'flushstart', id: Number(a) };
    case 'flushdone': return { kind: 'flushdone', id: Number(a), syncs: Number(b) };
    case 'wce': return { kind: 'wce', on: a === 'on' };
    case 'done': return { kind: 'done' };
    default: throw new Error(`bad writer line: ${line}`);
  }
}

/** Runs the writer and SIGKILLs it once `killAfterAcks` acks were seen. Returns the lines read. */
function runWriter(cfg: WriterConfig, killAfterAcks: number): Promise<Line[]> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, ['--conditions=source', '--import', 'tsx', writerScript, JSON.stringify(cfg)], {
      cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'],
    });
    const lines: Line[] = [];
    let acks = 0;
    let pending = '';
    let stderr = '';
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk: string) => {
      pending += chunk;
      let nl: number;
      while ((nl = pending.indexOf('\n')) >= 0) {
        const line = parse(pending.slice(0, nl));
        pending = pending.slice(nl + 1);
        // Lines read after we decided to kill are still true facts about acks; keep them.
        lines.push(line);
        if (line.kind === 'ack' && ++acks === killAfterAcks) child.kill('SIGKILL');
      }
    });
    child.stderr.on('data', (d) => { stderr += String(d); });
    child.on('error', reject);
    child.on('close', (code, signal) => {
      if (signal !== 'SIGKILL' && code !== 0) reject(new Error(`writer exited ${code}: ${stderr}`));
      else resolvePromise(lines);
    });
  });
}

interface Verdict {
  /** Seqs that must be on disk. */
  required: Set<number>;
  acked: number;
}

/**
 * Walks the writer's log applying the rule in force: under WCE off an ack
 * means durable (and a sync must have completed for it); under WCE on only
 * acks that precede a completed flush's start are durable, and syncs happen
 * only from flushes.
 */
function judge(lines: Line[], initialWce: boolean, ctx: string): Verdict {
  let wce = initialWce;
  const required = new Set<number>();
  const ackedSoFar: number[] = [];
  const ackedAtFlushStart = new Map<number, number>();
  let flushStarts = 0;
  let syncsAtWceOff = 0;
  let acksSinceWceOff = 0;
  let syncsAtWceOn = 0;
  let flushStartsAtWceOn = 0;
  let lastSyncs = 0;
  for (const line of lines) {
    if (line.kind === 'ack') {
      ackedSoFar.push(line.seq);
      expect(line.syncs, `${ctx}: sync counter went backwards`).toBeGreaterThanOrEqual(lastSyncs);
      lastSyncs = line.syncs;
      if (!wce) {
        required.add(line.seq);
        acksSinceWceOff++;
        // Each ack under WCE off was preceded by its own completed fdatasync.
        expect(line.syncs - syncsAtWceOff, `${ctx}: ack ${line.seq} without a completed sync`).toBeGreaterThanOrEqual(acksSinceWceOff);
      } else {
        // Under WCE on, syncs come only from explicit flushes (one fdatasync each for raw over file).
        expect(line.syncs - syncsAtWceOn, `${ctx}: per-write sync under WCE on (ack ${line.seq})`)
          .toBeLessThanOrEqual(flushStarts - flushStartsAtWceOn);
      }
    } else if (line.kind === 'flushstart') {
      flushStarts++;
      ackedAtFlushStart.set(line.id, ackedSoFar.length);
    } else if (line.kind === 'flushdone') {
      const n = ackedAtFlushStart.get(line.id)!;
      for (let i = 0; i < n; i++) required.add(ackedSoFar[i]);
      lastSyncs = Math.max(lastSyncs, line.syncs);
    } else if (line.kind === 'wce') {
      wce = line.on;
      if (!wce) {
        syncsAtWceOff = lastSyncs;
        acksSinceWceOff = 0;
      } else {
        syncsAtWceOn = lastSyncs;
        flushStartsAtWceOn = flushStarts;
      }
    }
  }
  return { required, acked: ackedSoFar.length };
}

async function verifyImage(path: string, required: Set<number>, ctx: string): Promise<void> {
  const blk = await openImage({ filename: path, format: 'raw', readOnly: true });
  try {
    const buf = new Uint8Array(BLOCK);
    for (let seq = 0; seq < BLOCKS; seq++) {
      await blk.read(seq * BLOCK, buf);
      const good = Buffer.from(buf).equals(Buffer.from(blockFor(seq)));
      if (required.has(seq)) expect(good, `${ctx}: acknowledged block ${seq} lost`).toBe(true);
      // Never torn or misplaced: a block is either untouched (zero) or exactly what was written there.
      else if (!good) expect(buf.every((b) => b === 0), `${ctx}: block ${seq} is garbage`).toBe(true);
    }
  } finally {
    await blk.close();
  }
}

let dir: string;
beforeAll(() => { dir = mkdtempSync(join(tmpdir(), 'bc-durability-')); });
afterAll(() => rmSync(dir, { recursive: true, force: true }));

interface Scenario {
  name: string;
  cache: string;
  flushEvery: number;
  toggleAt?: number;
  toggleTo?: boolean;
  options?: Record<string, string>;
  /** What hostCacheBypass the writer must report. */
  bypass: string[];
}

const scenarios: Scenario[] = [
  { name: 'writethrough', cache: 'writethrough', flushEvery: 0, bypass: ['none'] },
  { name: 'directsync', cache: 'directsync', flushEvery: 0, bypass: ['O_DIRECT', 'O_DSYNC'] },
  { name: 'directsync, O_DIRECT refused (O_DSYNC)', cache: 'directsync', flushEvery: 0, options: { 'file.x-no-odirect': 'on' }, bypass: ['O_DSYNC'] },
  { name: 'writeback', cache: 'writeback', flushEvery: 16, bypass: ['none'] },
  { name: 'none', cache: 'none', flushEvery: 16, bypass: ['O_DIRECT', 'O_DSYNC'] },
  { name: 'unsafe', cache: 'unsafe', flushEvery: 16, bypass: ['none'] },
  { name: 'writeback, WCE off mid-stream', cache: 'writeback', flushEvery: 16, toggleAt: 40, toggleTo: false, bypass: ['none'] },
  { name: 'writethrough, WCE on mid-stream', cache: 'writethrough', flushEvery: 16, toggleAt: 40, toggleTo: true, bypass: ['none'] },
  // Synchronous small writes (what single-client tools turn on) must keep the same guarantees.
  { name: 'writethrough, x-sync-writes', cache: 'writethrough', flushEvery: 0, options: { 'file.x-sync-writes': 'on' }, bypass: ['none'] },
  { name: 'writeback, x-sync-writes', cache: 'writeback', flushEvery: 16, options: { 'file.x-sync-writes': 'on' }, bypass: ['none'] },
];

describe(`durability under SIGKILL (DURABILITY_SEED=${baseSeed})`, () => {
  scenarios.forEach((sc, index) => {
    it.concurrent(sc.name, async () => {
      const rand = prng(baseSeed + index);
      const killAfter = 60 + Math.floor(rand() * 240);
      const ctx = `${sc.name}, seed ${baseSeed}, kill after ${killAfter} acks`;
      const image = join(dir, `img-${index}.raw`);
      writeFileSync(image, new Uint8Array(0));
      const pre = await openImage({ filename: image, format: 'raw' });
      await pre.truncate(BLOCKS * BLOCK);
      await pre.close();
      const lines = await runWriter({
        image, cache: sc.cache, blocks: BLOCKS, queueDepth: 4, flushEvery: sc.flushEvery, toggleAt: sc.toggleAt, toggleTo: sc.toggleTo, options: sc.options,
      }, killAfter);
      const ready = lines[0];
      expect(ready.kind, ctx).toBe('ready');
      if (ready.kind === 'ready') expect(sc.bypass, ctx).toContain(ready.bypass);
      expect(lines.some((l) => l.kind === 'done'), `${ctx}: writer finished before the kill`).toBe(false);
      if (sc.toggleAt !== undefined) expect(lines.some((l) => l.kind === 'wce'), ctx).toBe(true);
      const initialWce = sc.cache !== 'writethrough' && sc.cache !== 'directsync';
      if (sc.cache === 'unsafe') {
        // unsafe promises nothing: flushes are dropped, so no fdatasync ever ran; the image must still open and read.
        for (const l of lines) if (l.kind === 'ack' || l.kind === 'flushdone') expect(l.syncs, ctx).toBe(0);
        expect(lines.some((l) => l.kind === 'flushdone'), ctx).toBe(true);
        await verifyImage(image, new Set(), ctx);
        return;
      }
      const verdict = judge(lines, initialWce, ctx);
      expect(verdict.acked, ctx).toBeGreaterThanOrEqual(killAfter);
      if (!initialWce || sc.toggleTo === false) expect(verdict.required.size, ctx).toBeGreaterThan(0);
      await verifyImage(image, verdict.required, ctx);
    });
  });
});
