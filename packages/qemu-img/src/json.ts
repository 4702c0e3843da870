// QEMU's JSON output styles.

/**
 * Pretty JSON as qemu-img prints it (4-space indent, "key": value); an empty
 * array is opened and closed on two lines, as QEMU's JSON writer does it.
 */
export function prettyJson(value: unknown): string {
  const text = JSON.stringify(value, null, 4).replace(/^( *)(.*)\[\](,?)$/gm, '$1$2[\n$1]$3');
  return `${text}\n`;
}
