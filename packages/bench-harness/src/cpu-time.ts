import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

/**
 * CPU time clocks for the 'cpu' metric, in ms.
 *
 * Children: user + sys of every child this process has waited for (the
 * kernel's cutime + cstime in /proc/self/stat, which also hold the children's
 * own waited-for descendants and all their threads). Node reaps a spawned
 * child before its 'close' event, so the difference across one run is that
 * run's CPU time, to one clock tick (10 ms with the usual USER_HZ of 100).
 */
export function childrenCpuMs(): number {
  const stat = readFileSync('/proc/self/stat', 'latin1');
  // The command name (field 2) is in parentheses and may hold spaces: count fields after the last ')'.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // fields[0] is field 3 (state); cutime and cstime are fields 16 and 17.
  const ticks = Number(fields[13]) + Number(fields[14]);
  return (ticks * 1000) / clockTicksPerSecond();
}

/** This process's own user + sys (for in-process bench commands). */
export function selfCpuMs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

let ticksPerSecond: number | undefined;

function clockTicksPerSecond(): number {
  if (ticksPerSecond === undefined) {
    let n = NaN;
    try {
      n = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());
    } catch { /* below */ }
    ticksPerSecond = Number.isInteger(n) && n > 0 ? n : 100; // Linux's USER_HZ everywhere
  }
  return ticksPerSecond;
}
