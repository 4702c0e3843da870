/** A parsed ELF32 little-endian ARM executable: just what a static loader needs. */
export interface ElfImage {
  type: number; // 2 = ET_EXEC, 3 = ET_DYN
  entry: number;
  phoff: number;
  phentsize: number;
  phnum: number;
  segments: ElfSegment[];
  interp: string | null;
  flags: number;
}

export interface ElfSegment {
  type: number;
  offset: number;
  vaddr: number;
  filesz: number;
  memsz: number;
  flags: number;
  align: number;
}

export const PT_LOAD = 1, PT_INTERP = 3, PT_PHDR = 6, PT_TLS = 7, PT_GNU_STACK = 0x6474e551;
const EM_ARM = 40;

export class ElfError extends Error {}

export function parseElf(buf: Uint8Array): ElfImage {
  if (buf.length < 52 || buf[0] !== 0x7f || buf[1] !== 0x45 || buf[2] !== 0x4c || buf[3] !== 0x46) throw new ElfError('not an ELF file');
  if (buf[4] !== 1) throw new ElfError('not a 32-bit ELF file');
  if (buf[5] !== 1) throw new ElfError('not a little-endian ELF file');
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const type = dv.getUint16(16, true), machine = dv.getUint16(18, true);
  if (machine !== EM_ARM) throw new ElfError(`not an ARM executable (e_machine ${machine})`);
  if (type !== 2 && type !== 3) throw new ElfError(`not an executable (e_type ${type})`);
  const img: ElfImage = {
    type, entry: dv.getUint32(24, true), phoff: dv.getUint32(28, true), flags: dv.getUint32(36, true),
    phentsize: dv.getUint16(42, true), phnum: dv.getUint16(44, true), segments: [], interp: null,
  };
  if (img.phentsize < 32 || img.phoff + img.phnum * img.phentsize > buf.length) throw new ElfError('bad program header table');
  for (let i = 0; i < img.phnum; i++) {
    const o = img.phoff + i * img.phentsize;
    const seg: ElfSegment = {
      type: dv.getUint32(o, true), offset: dv.getUint32(o + 4, true), vaddr: dv.getUint32(o + 8, true),
      filesz: dv.getUint32(o + 16, true), memsz: dv.getUint32(o + 20, true), flags: dv.getUint32(o + 24, true), align: dv.getUint32(o + 28, true),
    };
    if (seg.type === PT_LOAD && seg.offset + seg.filesz > buf.length) throw new ElfError('segment outside the file');
    if (seg.type === PT_INTERP) img.interp = Buffer.from(buf.subarray(seg.offset, seg.offset + seg.filesz)).toString('latin1').replace(/\0.*$/, '');
    img.segments.push(seg);
  }
  return img;
}
