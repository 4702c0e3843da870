// Command lines from a sweep of qemu-nbd 7.2 against tsemu-nbd: the real
// qemu-nbd and ours run with the same arguments and must print the same
// stderr and exit the same way, or serve the same thing. Servers bind
// 127.0.0.1 or unix sockets in this test's directory only.
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../src/index.js';
import { numericService, strtoi, strtou64 } from '../src/c-number.js';
import { TSEMU_NBD_BIN, cleanupDir, run, tempDir } from './helpers.js';

let dir: string;

beforeAll(async () => {
  dir = tempDir('tsemu-nbd-parity-');
  expect((await run('qemu-img', ['create', '-f', 'raw', join(dir, 'd.raw'), '1M'])).code).toBe(0);
  expect((await run('qemu-img', ['create', '-f', 'qcow2', join(dir, 'img.qcow2'), '1M'])).code).toBe(0);
  mkdirSync(join(dir, 'adir'));
  writeFileSync(join(dir, 'events'), 'bogus3\n# comment\n\n-nbd_x\n-nbd_*\n'); // enables nothing: qemu would trace
});

afterAll(() => cleanupDir(dir));

/** main() in this process, run from `dir` (relative image names). */
async function tsemu(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const prev = process.cwd();
  process.chdir(dir);
  try {
    const code = await main(args, { stdout: { write: (t: string) => (stdout += t) }, stderr: { write: (t: string) => (stderr += t) } });
    return { code, stdout, stderr };
  } finally {
    process.chdir(prev);
  }
}

/** A port nothing listens on right now. */
function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

describe('command lines that stop before serving: same stderr and status', () => {
  const long = `/tmp/${'x'.repeat(110)}.sock`;
  const cases: Array<(d: string) => string[]> = [
    // -p: getaddrinfo's service rules; -b: its resolver; binding errors.
    () => ['-b', '127.0.0.1', '-p', '4294967295', 'img.qcow2'],
    () => ['-b', '127.0.0.1', '-p', '0x10', 'img.qcow2'],
    () => ['-b', '127.0.0.1', '-p', '-1', 'img.qcow2'],
    () => ['-b', '256.1.1.1', 'img.qcow2'],
    () => ['-b', '192.0.2.1', '-p', '1', 'img.qcow2'],
    () => ['-L', '-b', '127.0.0.1', '-p', String(65536 + 1)],
    () => ['-L', '-b', '127.0.0.1', '-p', 'nosuch'],
    // -c/-d: the argument count first.
    () => ['-c', '/dev/nbd0'],
    () => ['-d'],
    (d) => ['-c', '/dev/nbd0', '-L', '-k', `${d}/never.sock`],
    // -o: qemu_strtou64 (negative wraps), then the raw offset node's checks.
    (d) => ['-k', `${d}/o.sock`, '-o', '-1', '-f', 'raw', 'd.raw'],
    (d) => ['-k', `${d}/o.sock`, '-o', '-1', 'missing.raw'],
    (d) => ['-k', `${d}/o.sock`, '-o', '2000000', '-f', 'raw', 'd.raw'],
    (d) => ['-k', `${d}/o.sock`, '-o', '2000000', 'img.qcow2'],
    (d) => ['-k', `${d}/o.sock`, '-o', '9223372036854775807', '-f', 'raw', 'd.raw'],
    (d) => ['-k', `${d}/o.sock`, '-o', '2M', 'd.raw'],
    // --pid-file: written after the image is open.
    (d) => ['--pid-file', '/nonexistent/x/y', '-k', `${d}/p.sock`, 'img.qcow2'],
    (d) => ['--pid-file', '/nonexistent/x/y', '-k', `${d}/p.sock`, 'missing.raw'],
    (d) => ['--pid-file=', '-k', `${d}/p.sock`, 'img.qcow2'],
    // --image-opts: file-posix reads aio= and locking= before it opens the file, aio=native needs O_DIRECT after.
    (d) => ['-k', `${d}/i.sock`, '--image-opts', 'driver=raw,file.driver=file,file.filename=d.raw,file.aio=bogus'],
    (d) => ['-k', `${d}/i.sock`, '--image-opts', 'driver=raw,file.driver=file,file.filename=missing.raw,file.aio=Threads'],
    (d) => ['-k', `${d}/i.sock`, '--image-opts', 'driver=raw,file.driver=file,file.filename=missing.raw,file.aio=native'],
    (d) => ['-k', `${d}/i.sock`, '--image-opts', 'driver=raw,file.driver=file,file.filename=d.raw,file.aio-max-batch=x'],
    // -L with per-device settings or --fork.
    ...[['-D', 'desc'], ['-x', 'e'], ['-f', 'raw'], ['-o', '1'], ['-A'], ['-B', 'b'], ['-l', 's'], ['--aio', 'threads'],
      ['--cache', 'none'], ['-n'], ['--discard', 'unmap'], ['--fork'], ['img.qcow2'], ['-d']]
      .map((extra) => (d: string) => ['-L', '-k', `${d}/never.sock`, ...extra]),
    (d) => ['-L', '-k', `${d}/never.sock`, '-o', '0', '-s', '-r', '-t', '-e', '2', '--detect-zeroes', 'on'],
    // -T: warnings as the options are read, bad keys, events files, the log file.
    () => ['-T', 'bogus'],
    // getopt reports a bad word only when it reaches it: -h first wins.
    () => ['-h', '-z'], () => ['-V', '--bogus'], () => ['-z', '-h'], () => ['-e', '-1', '-z'],
    // Ambiguous long options: glibc names the candidates in qemu-nbd's table order.
    ...['--a', '--b', '--c', '--d', '--f', '--l', '--o', '--p', '--s=1', '--t', '--v', '--e', '--x'].map((o) => () => [o]),
    (d) => ['-T', 'bogus', '-T', '-bogus2', '-T', 'nbd_*', '-T', 'nbd_negotiate_begin', '-L', '-k', `${d}/never.sock`],
    (d) => ['-T', 'a,b', '-k', `${d}/t.sock`, 'img.qcow2'],
    (d) => ['-T', 'enable=a,enable=b,file=/nonexistent/x', '-k', `${d}/t.sock`, 'img.qcow2'],
    (d) => ['-T', 'events=/nonexistent', '-k', `${d}/t.sock`, 'img.qcow2'],
    (d) => ['-T', `events=${d}/events`, '-k', '/nonexistent/t.sock', 'img.qcow2'],
    // -k: absolute, short enough, a removable path; binding comes before opening the image.
    () => ['-k', 'rel.sock', 'img.qcow2'],
    () => ['-k', long, 'img.qcow2'],
    () => ['-k', '/nonexistent/x.sock', 'missing.raw'],
    (d) => ['-k', `${d}/adir`, 'img.qcow2'],
    (d) => ['-k', `${d}/d.raw/x.sock`, 'img.qcow2'],
    // Options that may be given once, and detect-zeroes=unmap checked where it appears.
    (d) => ['-k', `${d}/x.sock`, '--detect-zeroes', 'unmap', '--discard', 'unmap', 'img.qcow2'],
    (d) => ['-k', `${d}/x.sock`, '--aio', 'threads', '--aio', 'native', 'img.qcow2'],
    (d) => ['-k', `${d}/x.sock`, '--discard', 'unmap', '--discard', 'unmap', 'img.qcow2'],
    (d) => ['-k', `${d}/x.sock`, '-e', '-1', 'img.qcow2'],
    (d) => ['-k', `${d}/x.sock`, '-e', '2147483648', 'img.qcow2'],
    (d) => ['-k', `${d}/x.sock`, '-e', '08', 'img.qcow2'],
    // TLS combinations in qemu-nbd's order, --tls-hostname, --object help and a missing type.
    () => ['--tls-creds', 'nope', '--tls-authz', 'a', '-L'],
    () => ['--tls-creds', 'nope', '--tls-hostname', 'x', 'img.qcow2'],
    () => ['--tls-hostname', 'x', 'img.qcow2'],
    () => ['--tls-creds', 'nope', '-c', '/dev/nbd0', 'img.qcow2'],
    () => ['--object', 'help'],
    () => ['--object', 'id=x'],
    // TYPE,help (qemu-nbd also lists iothread), keyval mistakes, and iothread objects (accepted and checked).
    () => ['--object', 'iothread,help'], () => ['--object', 'secret,help,id=x'], () => ['--object', 'tls-creds-psk,help'],
    () => ['--object', 'bogus,help'], () => ['--object', 'help,secret'],
    // List keys with help (authz-list's rules), and keyval mistakes qemu-nbd reports before anything else.
    () => ['--object', 'authz-list,rules.0.match=x,help'], () => ['--object', 'authz-list,id=a,rules.0=x,help'],
    () => ['--object', 'secret,,help'], () => ['--object', 'secret,0,help'], () => ['--object', 'secret,id=s,0=1', 'img.qcow2'],
    () => ['--object', 'iothread,id=1x', 'img.qcow2'], () => ['--object', 'iothread,poll-max-ns=5', 'img.qcow2'],
    () => ['--object', 'iothread,id=io0,poll-max-ns=abc', 'img.qcow2'], () => ['--object', 'iothread,id=io0,bogus=1', 'img.qcow2'],
    () => ['--object', 'iothread,id=a', '--object', 'iothread,id=a', 'img.qcow2'],
    () => ['--object', 'secret,id=1x,data=a', 'img.qcow2'],
    () => ['--object', 'iothread,id=io0,poll-max-ns=1000', '--tls-creds', 'nope', 'img.qcow2'],
    // --aio=native wants O_DIRECT once the file is open; --image-opts with a plain name is a node reference.
    (d) => ['-k', `${d}/x.sock`, '--aio=native', '-f', 'qcow2', 'd.raw'],
    (d) => ['-k', `${d}/x.sock`, '--aio=native', 'missing.raw'],
    (d) => ['-k', `${d}/x.sock`, '--image-opts', 'd.raw'],
    (d) => ['-k', `${d}/x.sock`, '--image-opts', '-o', '2000000', 'driver=file,filename=d.raw'],
  ];
  it.each(cases.map((f, i) => [i, f] as const))('case %i', async (_i, make) => {
    const args = make(dir);
    const real = await run('qemu-nbd', args, { cwd: dir, timeout: 10_000 });
    const ours = await tsemu(args);
    expect({ args, stderr: ours.stderr, code: ours.code }).toEqual({ args, stderr: real.stderr, code: real.code });
    // --help and --version differ on purpose (the localhost default, tsemu's version); their first words match.
    if (/^(Usage:|qemu-nbd 7\.2)/.test(real.stdout)) expect(ours.stdout.slice(0, 12)).toBe(real.stdout.slice(0, 12));
    else expect(ours.stdout).toBe(real.stdout);
  });

  it('-T help lists the same event names', async () => {
    const real = await run('qemu-nbd', ['-T', 'help']);
    const ours = await tsemu(['-T', 'help']);
    expect(ours).toEqual({ code: real.code, stdout: real.stdout, stderr: real.stderr });
    expect(real.stdout.split('\n').length).toBeGreaterThan(100);
  });
});

/** Runs `cmd args` until probe() answers, then stops it; stderr so far and the answer. */
async function serveAndProbe(cmd: string[], args: string[], probe: () => Promise<string | undefined>): Promise<{ stderr: string; answer: string }> {
  const child = spawn(cmd[0]!, [...cmd.slice(1), ...args], { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  try {
    let answer: string | undefined;
    const end = Date.now() + 20_000;
    while ((answer = await probe()) === undefined) {
      if (child.exitCode !== null) throw new Error(`${cmd[0]} exited ${child.exitCode}: ${stderr}`);
      if (Date.now() > end) throw new Error(`${cmd[0]} never served: ${stderr}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    return { stderr, answer };
  } finally {
    if (child.exitCode === null) child.kill('SIGTERM');
    await exited;
  }
}

const QEMU = ['qemu-nbd'];
const OURS = [process.execPath, TSEMU_NBD_BIN];

async function nbdinfo(uri: string, ...opts: string[]): Promise<string | undefined> {
  const r = await run('nbdinfo', [...opts, uri], { timeout: 10_000 });
  return r.code === 0 ? r.stdout : undefined;
}

describe('command lines that serve: the same export, the same warnings', () => {
  it('-p PORT+65536 listens on PORT (getaddrinfo keeps the low 16 bits)', async () => {
    const port = await freePort();
    const args = ['-b', '127.0.0.1', '-p', String(port + 65536), '-f', 'raw', 'd.raw'];
    const probe = (): Promise<string | undefined> => nbdinfo(`nbd://127.0.0.1:${port}`, '--size');
    const real = await serveAndProbe(QEMU, args, probe);
    const ours = await serveAndProbe(OURS, args, probe);
    expect(ours).toEqual(real);
    expect(real.answer.trim()).toBe(String(1 << 20));
  });

  it('-T with unknown events and an events file warns and serves', async () => {
    const sock = join(dir, 'tw.sock');
    const args = ['-T', 'bogus', '-T', `events=${dir}/events`, '-t', '-k', sock, '-f', 'raw', 'd.raw'];
    const probe = (): Promise<string | undefined> => nbdinfo(`nbd+unix:///?socket=${sock}`, '--size');
    const real = await serveAndProbe(QEMU, args, probe);
    const ours = await serveAndProbe(OURS, args, probe);
    expect(ours).toEqual(real);
    expect(real.stderr).toContain("warning: trace event 'bogus' does not exist");
  });

  it('-o on a qcow2 image without -f offsets into the virtual disk, not the file', async () => {
    const sock = join(dir, 'oq.sock');
    const args = ['-o', '512', '-k', sock, 'img.qcow2'];
    const probe = (): Promise<string | undefined> => nbdinfo(`nbd+unix:///?socket=${sock}`, '--size');
    const real = await serveAndProbe(QEMU, args, probe);
    const ours = await serveAndProbe(OURS, args, probe);
    expect(ours).toEqual(real);
    expect(real.answer.trim()).toBe(String((1 << 20) - 512));
  });

  it('-k over a stale file removes it and serves; -e 0 serves any number of clients, with multi-conn', async () => {
    const sock = join(dir, 'stale.sock');
    const args = ['-e', '0', '-t', '-k', sock, '-f', 'raw', 'd.raw'];
    const probe = async (): Promise<string | undefined> => {
      const info = await nbdinfo(`nbd+unix:///?socket=${sock}`, '--can', 'multi-conn');
      if (info === undefined) return undefined;
      // Six clients at once, each must get the server's greeting.
      return `multi-conn ok, greeted ${await greetings(sock, 6)}`;
    };
    writeFileSync(sock, 'stale');
    const real = await serveAndProbe(QEMU, args, probe);
    writeFileSync(sock, 'stale');
    const ours = await serveAndProbe(OURS, args, probe);
    expect(ours).toEqual(real);
    expect(real.answer).toBe('multi-conn ok, greeted 6');
    expect(existsSync(sock)).toBe(false);
  });
});

describe('socket activation (LISTEN_PID/LISTEN_FDS), as qemu-nbd 7.2', () => {
  // sh's exec keeps its pid, so LISTEN_PID=$$ names the server; fd 3 is /dev/null (not a socket).
  const activated = (cmd: string, args: string, fds = 1): Promise<{ code: number; stdout: string; stderr: string }> =>
    run('sh', ['-c', `LISTEN_PID=$$ LISTEN_FDS=${fds} exec ${cmd} ${args} 3</dev/null 4</dev/null`], { cwd: dir, timeout: 10_000 });
  const ourCmd = `'${process.execPath}' '${TSEMU_NBD_BIN}'`;
  it.each([
    ['-k /tmp/never.sock img.qcow2', 1], ['-b 127.0.0.1 img.qcow2', 1], ['-p 5 img.qcow2', 1], ['-L', 1],
    ['-L -k /tmp/never.sock', 1], ['img.qcow2', 1], ['img.qcow2', 2],
  ] as const)('refused: %s with LISTEN_FDS=%i', async (args, fds) => {
    const real = await activated('qemu-nbd', args, fds);
    const ours = await activated(ourCmd, args, fds);
    expect(ours).toEqual(real);
    expect(real.code).toBe(1);
  });

  it('serves on the inherited socket', async () => {
    // python3 makes the listening socket fd 3 and execs the server with the variables set.
    const helper = join(dir, 'activate.py');
    writeFileSync(helper, [
      'import socket, os, sys',
      's = socket.socket(socket.AF_UNIX); s.bind(sys.argv[1]); s.listen(8)',
      'os.dup2(s.fileno(), 3); os.set_inheritable(3, True)',
      "os.environ['LISTEN_FDS'] = '1'; os.environ['LISTEN_PID'] = str(os.getpid())",
      'os.execvp(sys.argv[2], sys.argv[2:])',
    ].join('\n'));
    const results = [];
    for (const [i, cmd] of [QEMU, OURS].entries()) {
      const sock = join(dir, `act${i}.sock`);
      results.push(await serveAndProbe(['python3', helper, sock, ...cmd], ['-f', 'raw', 'd.raw'],
        () => nbdinfo(`nbd+unix:///?socket=${sock}`, '--size')));
    }
    expect(results[1]).toEqual(results[0]);
    expect(results[0]!.answer.trim()).toBe(String(1 << 20));
  });
});

describe('number reading, as glibc and qemu do it', () => {
  it('getaddrinfo service numbers: low 16 bits of a C int; -1 and text are names', () => {
    expect(numericService('99999')).toBe(34463);
    expect(numericService('65536')).toBe(0);
    expect(numericService('')).toBe(0);
    expect(numericService(' +5')).toBe(5);
    expect(numericService('4294967296')).toBe(0);
    expect(numericService('4294967295')).toBeUndefined();
    expect(numericService('-1')).toBeUndefined();
    expect(numericService('0x10')).toBeUndefined();
    expect(numericService('nbd')).toBeUndefined();
  });

  it('qemu_strtoi / qemu_strtou64: base 0, white space, wrapping negatives for u64', () => {
    expect(strtoi(' 010')).toBe(8);
    expect(strtoi('0x10')).toBe(16);
    expect(strtoi('-0')).toBe(0);
    expect(strtoi('08')).toBeUndefined();
    expect(strtoi('2147483648')).toBeUndefined();
    expect(strtou64('-1')).toBe((1n << 64n) - 1n);
    expect(strtou64('18446744073709551616')).toBeUndefined();
    expect(strtou64('2M')).toBeUndefined();
  });
});

describe('--fork', () => {
  it('warnings are printed once, the parent exits 0 once the server runs', async () => {
    const results = [];
    for (const [i, cmd] of [QEMU, OURS].entries()) {
      const pidFile = join(dir, `fork${i}.pid`);
      const sock = join(dir, `fork${i}.sock`);
      const r = await run(cmd[0]!, [...cmd.slice(1), '--fork', '--pid-file', pidFile, '-T', 'bogus', '-k', sock, '-f', 'raw', 'd.raw'], { cwd: dir });
      const size = await nbdinfo(`nbd+unix:///?socket=${sock}`, '--size');
      // Without -t the server leaves after nbdinfo; stop it in case it has not yet (ESRCH if gone).
      try {
        if (existsSync(pidFile)) process.kill(Number(readFileSync(pidFile, 'utf8')), 'SIGTERM');
      } catch {
        // already exited
      }
      results.push({ ...r, size });
    }
    expect(results[1]).toEqual(results[0]);
    expect(results[0]).toMatchObject({ code: 0, size: `${1 << 20}\n` });
  });
});

describe('an image another qemu-nbd holds', () => {
  it('the lock error and its hint line (no prefix) are the same', async () => {
    const sock = join(dir, 'holder.sock');
    const holder = spawn('qemu-nbd', ['-t', '-k', sock, join(dir, 'img.qcow2')], { stdio: 'ignore' });
    const gone = new Promise<void>((r) => holder.once('exit', () => r()));
    try {
      const end = Date.now() + 20_000;
      while (await nbdinfo(`nbd+unix:///?socket=${sock}`, '--size') === undefined) {
        if (Date.now() > end) throw new Error('holder never served');
        await new Promise((r) => setTimeout(r, 50));
      }
      for (const extra of [[], ['-r']]) {
        const args = ['-k', join(dir, 'second.sock'), ...extra, 'img.qcow2'];
        const real = await run('qemu-nbd', args, { cwd: dir, timeout: 10_000 });
        const ours = await tsemu(args);
        expect({ stderr: ours.stderr, code: ours.code }).toEqual({ stderr: real.stderr, code: real.code });
        expect(real.stderr).toContain('\nIs another process using the image [img.qcow2]?\n');
      }
    } finally {
      holder.kill('SIGTERM');
      await gone;
    }
  });
});

/** Opens n connections at once and counts those that receive the NBD greeting. */
async function greetings(path: string, n: number): Promise<number> {
  const sockets = Array.from({ length: n }, () => connect(path));
  let greeted = 0;
  // A client left waiting (a regression to a limit) must not hang the test: stop looking after 5 s.
  const giveUp = new Promise<void>((resolve) => setTimeout(resolve, 5000).unref());
  const all = Promise.all(sockets.map((s) => new Promise<void>((resolve) => {
    s.once('data', (d: Buffer) => {
      if (d.subarray(0, 8).toString() === 'NBDMAGIC') greeted++;
      resolve();
    });
    s.once('error', () => resolve());
    s.once('close', () => resolve());
  })));
  await Promise.race([all, giveUp]);
  for (const s of sockets) s.destroy();
  return greeted;
}
