// tsemu-sheepd: run the test peer in the foreground.
//   tsemu-sheepd [--dir DIR] [--port N | --socket PATH] [--flavour 0.5.6|1.0.1] [--no-cache] [--sync]
// Started with an IPC channel (child_process.fork), it also reports its
// address and answers {type:'stats'} / {type:'clear'} with a summary of its
// request log, so a parent (the benchmark) can check the wire traffic of a
// peer that runs in its own process.
import { parseArgs } from 'node:util';
import { SheepdogTestServer } from './server.js';

const USAGE = 'Usage: tsemu-sheepd [--dir DIR] [--port N | --socket PATH] [--flavour 0.5.6|1.0.1] [--no-cache] [--sync]';

/** What the IPC 'stats' message answers: requests per opcode and flags, in arrival order of first sight. */
export interface PeerStats {
  type: 'stats';
  /** [opcode, flags, count] */
  traffic: Array<[number, number, number]>;
  /** The peer's CPU time so far (user + system, microseconds): lets a benchmark charge the daemon's work too. */
  cpuUs: number;
}

function serveIpc(server: SheepdogTestServer): void {
  if (!process.send) return;
  process.on('message', (msg: { type?: string }) => {
    if (msg?.type === 'clear') {
      server.log.clear();
      const cpu = process.cpuUsage();
      process.send!({ type: 'cleared', cpuUs: cpu.user + cpu.system });
    } else if (msg?.type === 'stats') {
      const counts = new Map<number, number>();
      for (const e of server.log.list()) {
        const k = e.opcode * 0x10000 + e.flags;
        counts.set(k, (counts.get(k) ?? 0) + 1);
      }
      const traffic: PeerStats['traffic'] = [...counts].map(([k, n]) => [Math.floor(k / 0x10000), k % 0x10000, n]);
      const cpu = process.cpuUsage();
      process.send!({ type: 'stats', traffic, cpuUs: cpu.user + cpu.system } satisfies PeerStats);
    }
  });
  process.on('disconnect', () => void server.close().then(() => process.exit(0)));
  process.send({ type: 'ready', port: server.opts.socketPath ? 0 : server.port, socket: server.opts.socketPath ?? null });
}

async function main(argv: string[]): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        dir: { type: 'string', default: '.' },
        port: { type: 'string', default: '0' },
        socket: { type: 'string' },
        flavour: { type: 'string', default: '0.5.6' },
        'no-cache': { type: 'boolean', default: false },
        sync: { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
    }));
  } catch (err) {
    process.stderr.write(`tsemu-sheepd: ${(err as Error).message}\n${USAGE}\n`);
    return 1;
  }
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const flavour = values.flavour;
  const port = Number(values.port);
  if ((flavour !== '0.5.6' && flavour !== '1.0.1') || !Number.isInteger(port) || port < 0 || port > 65535) {
    process.stderr.write(`tsemu-sheepd: invalid --flavour or --port\n${USAGE}\n`);
    return 1;
  }
  const server = await SheepdogTestServer.start({
    dir: values.dir, port, socketPath: values.socket, flavour, sync: values.sync,
    ...(values['no-cache'] ? { objectCache: false } : {}),
  });
  const where = values.socket ?? `127.0.0.1:${server.port}`;
  process.stdout.write(`tsemu-sheepd: sheep ${flavour} peer on ${where}, objects in ${values.dir}, object cache ${server.node.objectCacheEnabled ? 'on' : 'off'}\n`);
  const stop = (): void => {
    void server.close().then(() => process.exit(0));
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  serveIpc(server);
  return -1; // keep running
}

main(process.argv.slice(2)).then(
  (code) => { if (code >= 0) process.exitCode = code; },
  (err: Error) => { process.stderr.write(`tsemu-sheepd: ${err.message}\n`); process.exitCode = 1; },
);
