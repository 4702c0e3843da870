// qemu-nbd -L: the export listing of another server, in qemu-nbd's layout.
import {
  NbdClient, TRANSMISSION_FLAG_NAMES, NBD_FLAG_HAS_FLAGS, type ListedExport, type NbdClientTls, type NbdServerAddress,
} from '@tsemu/block-nbd';

export function formatExportList(list: readonly ListedExport[]): string {
  let out = `exports available: ${list.length}\n`;
  for (const e of list) {
    out += ` export: '${e.name}'\n`;
    if (e.description) out += `  description: ${e.description}\n`;
    if (e.flags & NBD_FLAG_HAS_FLAGS) {
      out += `  size:  ${e.size}\n`;
      out += `  flags: 0x${e.flags.toString(16)} (`;
      TRANSMISSION_FLAG_NAMES.forEach((name, bit) => {
        if (name && e.flags & (1 << bit)) out += ` ${name}`;
      });
      out += ' )\n';
    }
    if (e.minBlock) {
      out += `  min block: ${e.minBlock}\n`;
      out += `  opt block: ${e.preferredBlock}\n`;
      out += `  max block: ${e.maxBlock}\n`;
    }
    if (e.contexts.length) {
      out += `  available meta contexts: ${e.contexts.length}\n`;
      for (const c of e.contexts) out += `   ${c}\n`;
    }
  }
  return out;
}

export async function listExports(address: NbdServerAddress, tls?: NbdClientTls): Promise<string> {
  return formatExportList(await NbdClient.list(address, tls));
}
