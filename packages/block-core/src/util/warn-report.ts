// QEMU's warn_report for library code that may run without a tool's sink:
// "<tool>: warning: <text>" on stderr, the tool named after the running bin
// (tsemu-io -> qemu-io), as the QEMU tool it stands in for would print it.

/** `text` carries its own line break, as warn_report's format does. */
export function warnReport(sink: ((text: string) => void) | undefined, text: string): void {
  if (sink) sink(text);
  else process.stderr.write(`${toolName()}: warning: ${text}`);
}

function toolName(): string {
  const base = (process.argv[1] ?? 'qemu-img').split('/').pop()!.replace(/\.[cm]?[jt]s$/, '');
  return base.replace(/^tsemu-/, 'qemu-').replace(/^(cli|main|index)$/, 'qemu-img');
}
