// The temporary qcow2 overlay of snapshot=on (qemu-io -s, qemu-nbd -s) lives
// in a file named as QEMU names it, mkstemp's $TMPDIR/vl.XXXXXX (/var/tmp
// without TMPDIR). QEMU unlinks it as soon as the overlay is open, so nothing
// is left behind however the process ends; open.ts does the same.
import { randomBytes } from 'node:crypto';
import { closeSync, openSync } from 'node:fs';
import { join } from 'node:path';

/** Creates an empty file only this process can open (O_EXCL, 0600) and returns its path. */
export function createTemporaryFile(): string {
  const dir = process.env.TMPDIR || '/var/tmp';
  for (;;) {
    const path = join(dir, `vl.${randomBytes(6).toString('base64url').slice(0, 6)}`);
    try {
      closeSync(openSync(path, 'wx', 0o600));
      return path;
    } catch (err) {
      if ((err as { code?: string }).code !== 'EEXIST') throw err;
    }
  }
}
