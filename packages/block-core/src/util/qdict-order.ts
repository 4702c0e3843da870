// The order in which QEMU walks a QDict (qdict_first/qdict_next), which decides
// which of several leftover options an error names ("Block format 'qcow2' does
// not support the option 'bar'" for foo=1,bar=2). A QDict is a fixed table of
// 512 buckets indexed by the tdb hash of the key, each bucket a list with the
// newest entry first; a walk goes bucket by bucket.

const BUCKETS = 512;
const encoder = new TextEncoder();

/** The bucket QEMU's QDict puts a key in (tdb hash of its bytes, modulo 512). */
export function qdictBucket(key: string): number {
  const bytes = encoder.encode(key);
  let value = Math.imul(0x238f13af, bytes.length) >>> 0;
  for (let i = 0; i < bytes.length; i++) value = (value + ((bytes[i]! << ((i * 5) % 24)) >>> 0)) >>> 0;
  return ((Math.imul(1103515243, value) + 12345) >>> 0) % BUCKETS;
}

/** `keys` (in insertion order) in the order a QDict holding them is walked. */
export function qdictOrder(keys: readonly string[]): string[] {
  const indexed = keys.map((key, index) => ({ key, index, bucket: qdictBucket(key) }));
  // Later insertions come first within a bucket.
  indexed.sort((a, b) => a.bucket - b.bucket || b.index - a.index);
  return indexed.map((e) => e.key);
}
