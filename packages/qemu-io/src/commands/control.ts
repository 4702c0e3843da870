// Session control: open, close, reopen, help, quit, sleep, and the debugging
// commands qemu-io has (abort, sigraise, blkdebug breakpoints).
import { parseCacheMode, parseOptionString, type BlockNode, type BlockOptions } from '@tsemu/block-core';
import { HELP } from '../help-text.js';
import { strtolWhole } from '../numbers.js';
import {
  defaultSettings, openWithSettings, parseAioArg, parseCacheArg, parseDiscardArg, type OpenSettings,
} from '../open-settings.js';
import { EINVAL, helpLine, type Command, type Session, type Status } from '../session.js';
import { errorText } from '../errors.js';
import { applyReopenOptions } from '../reopen-options.js';

/** -o text as block options; prints QEMU-style complaint on bad syntax. */
function optionsArg(s: Session, text: string): BlockOptions | undefined {
  try {
    // A bare key is key=on, with QEMU 7.2's deprecation warning.
    return parseOptionString(text, undefined, (name) =>
      s.err(`qemu-io: warning: short-form boolean option '${name}' deprecated\nPlease use ${name}=on instead`));
  } catch (e) {
    s.err(`qemu-io: ${errorText(e, true)}`);
    return undefined;
  }
}

const open: Command = {
  name: 'open', alt: 'o', argmin: 1, argmax: -1, global: true,
  async run(s, argv) {
    const o = s.getopt(argv, 'snCro:kt:d:i:U');
    if (!o.ok) return EINVAL;
    const settings: OpenSettings = defaultSettings();
    const options: BlockOptions = {};
    for (const { key, value } of o.options) {
      if (key === 'r') settings.readOnly = true;
      else if (key === 's') settings.snapshot = true;
      else if (key === 'C') settings.copyOnRead = true;
      else if (key === 'n') settings.cache = 'none';
      else if (key === 'k') settings.aio = 'native';
      else if (key === 'U') settings.forceShare = true;
      else if (key === 't') {
        const mode = parseCacheArg(value!);
        if (mode === undefined) return (s.err(`qemu-io: Invalid cache option: ${value}`), EINVAL);
        settings.cache = mode;
      } else if (key === 'd') {
        const mode = parseDiscardArg(value!);
        if (mode === undefined) return (s.err(`qemu-io: Invalid discard option: ${value}`), EINVAL);
        settings.discard = mode;
      } else if (key === 'i') {
        const mode = parseAioArg(value!);
        if (mode === undefined) return (s.err(`qemu-io: Invalid aio option: ${value}`), EINVAL);
        settings.aio = mode;
      } else if (key === 'o') {
        const parsed = optionsArg(s, value!);
        if (!parsed) return EINVAL;
        Object.assign(options, parsed);
      }
    }
    if (o.operands.length === 1) settings.filename = o.operands[0];
    else if (o.operands.length !== 0 || Object.keys(options).length === 0) return s.usage('open');
    if (Object.keys(options).length > 0) settings.options = options;
    return openWithSettings(s, settings);
  },
};

const close: Command = {
  name: 'close', alt: 'c', argmin: 0, argmax: 0,
  async run(s) {
    await s.close();
    return 0;
  },
};

const reopen: Command = {
  name: 'reopen', argmin: 0, argmax: -1,
  async run(s, argv) {
    const o = s.getopt(argv, 'c:o:rw');
    if (!o.ok) return EINVAL;
    const prev: OpenSettings = { ...(s.settings ?? defaultSettings()) };
    const next: OpenSettings = { ...prev };
    let rw: 'r' | 'w' | undefined;
    let cacheArg = false;
    const opts: BlockOptions = {};
    for (const { key, value } of o.options) {
      if (key === 'c') {
        const mode = parseCacheArg(value!);
        if (mode === undefined) return (s.err(`qemu-io: Invalid cache option: ${value}`), EINVAL);
        next.cache = mode;
        cacheArg = true;
      } else if (key === 'r' || key === 'w') {
        if (rw !== undefined) return (s.err('qemu-io: Only one -r/-w option may be given'), EINVAL);
        rw = key;
      } else if (key === 'o') {
        const parsed = optionsArg(s, value!);
        if (!parsed) return EINVAL;
        Object.assign(opts, parsed);
      }
    }
    if (o.operands.length !== 0) return s.usage('reopen');
    if (rw) next.readOnly = rw === 'r';
    // -c sets the whole mode: cache.* options of an earlier reopen -o no longer apply.
    if (cacheArg && next.options) {
      next.options = { ...next.options };
      delete next.options['cache.direct'];
      delete next.options['cache.no-flush'];
    }
    const refused = applyReopenOptions(s.blk!, opts, { rw: rw !== undefined, cacheArg }, next);
    if (refused !== undefined) return (s.err(`qemu-io: ${refused}`), EINVAL);
    if (prev.snapshot) return reopenOverlay(s, prev, next, Object.keys(opts).length > 0);
    // No live reopen in the block layer: close and open again with the format pinned (no second probe warning).
    const format = s.blk!.info().format;
    for (const settings of [next, prev]) {
      settings.format = format;
      if (settings.imageOpts) settings.options = { ...settings.options, driver: format };
    }
    await s.close();
    let why: string | undefined;
    const status = await openWithSettings(s, next, (e) => (why = e));
    if (status === 0 || why === undefined) return status;
    // As QEMU's reopen, a failure leaves the image open as it was.
    s.err(`qemu-io: ${why}`);
    await openWithSettings(s, prev);
    return EINVAL;
  },
};

/**
 * reopen under -s: the overlay's file was unlinked at open, so QEMU's reopen
 * fails by its name where the host file must be opened again (read-only or
 * O_DIRECT changes) and keeps the overlay otherwise. tsemu has no live reopen
 * of a node, so only the cache mode's write cache and flushes change here.
 */
function reopenOverlay(s: Session, prev: OpenSettings, next: OpenSettings, hasOptions: boolean): Status {
  const blk = s.blk!;
  const was = parseCacheMode(prev.cache), will = parseCacheMode(next.cache);
  if (next.readOnly !== prev.readOnly || was.direct !== will.direct) {
    s.err(`qemu-io: Could not open '${blk.root.file?.filename ?? ''}': No such file or directory`);
    return EINVAL;
  }
  if (hasOptions) return (s.err('qemu-io: reopen -o of a snapshot (-s) image is not supported by tsemu-io'), EINVAL);
  blk.setWriteCacheEnabled(will.writeback);
  for (let node: BlockNode | undefined = blk.root; node; node = node.file ?? node.children.get('image')) node.cache.noFlush = will.noFlush;
  s.settings = next;
  return 0;
}

const help: Command = {
  name: 'help', alt: '?', argmin: 0, argmax: 1, global: true,
  run(s, argv) {
    if (argv.length === 1) {
      const names = [...new Set([...s.commands.values()].map((c) => c.name))].sort();
      s.out(names.map((n) => helpLine(n, n)).join(''));
      s.out("\nUse 'help commandname' for extended help.\n");
      return 0;
    }
    const cmd = s.commands.get(argv[1]);
    if (!cmd) {
      s.out(`command ${argv[1]} not found\n`);
      return EINVAL;
    }
    s.out(helpLine(cmd.name, argv[1]) + (HELP[cmd.name].help ?? ''));
    return 0;
  },
};

const quit: Command = {
  name: 'quit', alt: 'q', argmin: 0, argmax: -1, global: true,
  run(s) {
    s.quit = true;
    return 0;
  },
};

const sleep: Command = {
  name: 'sleep', argmin: 1, argmax: 1, global: true,
  async run(s, argv) {
    const ms = strtolWhole(argv[1]);
    if (ms === undefined || ms < 0) {
      s.out(`${argv[1]} is not a valid number\n`);
      return EINVAL;
    }
    await new Promise((resolve) => setTimeout(resolve, ms));
    s.reapCompletedAio();
    return 0;
  },
};

const abort: Command = {
  name: 'abort', argmin: 0, argmax: 0, global: true,
  run(s) {
    s.io.flush();
    // abort(3) is raise(SIGABRT): killed by the signal, status 134, no output. process.abort() would
    // print Node's native stack trace first, so raise it ourselves and keep abort() as the fallback.
    process.kill(process.pid, 'SIGABRT');
    process.abort();
  },
};

const sigraise: Command = {
  name: 'sigraise', argmin: 1, argmax: 1, global: true,
  run(s, argv) {
    const sig = s.num(argv[1]);
    if (sig === undefined) return EINVAL;
    // qemu-io compares with NSIG (65 on Linux); 65 itself then fails quietly in raise(3).
    if (sig > 65) {
      s.out(`signal argument '${argv[1]}' is too large to be a valid signal\n`);
      return EINVAL;
    }
    s.io.flush();
    try {
      process.kill(process.pid, sig);
    } catch {
      // raise(3) with a bad number fails quietly in qemu-io too
    }
    return 0;
  },
};

/** blkdebug breakpoints: no driver here supports them through the backend, so they fail as on raw. */
function unsupported(name: string, argmin: number, message: (argv: string[]) => string): Command {
  return {
    name, argmin, argmax: argmin,
    run(s, argv): Status {
      s.out(`${message(argv)}: Operation not supported\n`);
      return -95;
    },
  };
}

export const controlCommands: Command[] = [
  open, close, reopen, help, quit, sleep, abort, sigraise,
  unsupported('break', 2, () => 'Could not set breakpoint'),
  unsupported('remove_break', 1, (a) => `Could not remove breakpoint ${a[1]}`),
  unsupported('resume', 1, () => 'Could not resume request'),
  unsupported('wait_break', 1, (a) => `Could not wait for breakpoint ${a[1]}`),
];
