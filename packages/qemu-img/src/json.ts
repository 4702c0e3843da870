// QEMU's JSON output styles.

/** Pretty JSON as qemu-img prints it (4-space indent, "key": value). */
export function prettyJson(value: unknown): string {
  return `${JSON.stringify(value, null, 4)}\n`;
}
