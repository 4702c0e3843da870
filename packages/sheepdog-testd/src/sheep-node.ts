// What one sheep node does with a request, independent of sockets: object
// I/O through the object cache or straight to the store, copy-on-write
// creates, and the VDI operations. Requests are handled one at a time (the
// server queues them), so no locking is needed here. Object requests that
// need no thread-pool work (small writes, reads, the cache) answer
// synchronously: handle() returns a NodeReply, not a promise, and the
// server replies within the same tick.
import {
  SD_OP_CREATE_AND_WRITE_OBJ, SD_OP_READ_OBJ, SD_OP_WRITE_OBJ, SD_OP_DISCARD_OBJ, SD_OP_NEW_VDI,
  SD_OP_LOCK_VDI, SD_OP_RELEASE_VDI, SD_OP_GET_VDI_INFO, SD_OP_READ_VDIS, SD_OP_FLUSH_VDI, SD_OP_DEL_VDI,
  SD_FLAG_CMD_COW, SD_FLAG_CMD_CACHE, SD_FLAG_CMD_DIRECT, SD_FLAG_CMD_WRITE,
  SD_RES_SUCCESS, SD_RES_NO_OBJ, SD_RES_INVALID_PARMS, SD_RES_VDI_EXIST, SD_RES_NO_VDI, SD_RES_NO_TAG,
  SD_RES_VDI_LOCKED, SD_RES_VDI_NOT_LOCKED, SD_RES_READONLY, SD_RES_VER_MISMATCH, SD_RES_NO_BASE_VDI,
  SD_RES_FULL_VDI, SD_SERVER_PROTO_VER, SD_DATA_OBJ_SIZE, SD_MAX_VDI_LEN, SD_MAX_VDI_TAG_LEN,
  SD_INODE_SIZE, SD_INODE_HEADER_SIZE, INODE_DATA_VDI_ID, INODE_SNAP_CTIME, INODE_CHILD_VDI_ID,
  INODE_NAME, INODE_TAG, INODE_CTIME, INODE_VDI_SIZE, INODE_NR_COPIES, INODE_BLOCK_SIZE_SHIFT, INODE_SNAP_ID,
  INODE_VDI_ID, INODE_PARENT_VDI_ID,
  inodeOidHi, oidVid, isInodeOid, isVmstateOid, isAttrOid, decodeInodeHeader, readCString, writeU64,
  writeCString, encodeCtime, readU64, inodeDataVdiId,
  type SheepdogRequestHeader,
} from '@tsemu/block-sheepdog';
import { ObjectStore, dataEndOf } from './object-store.js';
import { ObjectCache } from './object-cache.js';
import { VdiTable } from './vdi-table.js';
import type { Maybe } from './pwrite.js';

export type SheepFlavour = '0.5.6' | '1.0.1';

export interface SheepNodeOptions {
  /** '0.5.6' (default): object cache on, DEL_VDI/DISCARD_OBJ unknown. '1.0.1': no cache, locks, READONLY. */
  flavour?: SheepFlavour;
  /** Override: run the object cache or not (FLUSH_VDI -> INVALID_PARMS without it). */
  objectCache?: boolean;
  /** fdatasync every write that reaches the store (as sheep's O_DSYNC backend); off: a crash-of-the-daemon model. */
  sync?: boolean;
}

export interface NodeReply {
  result: number;
  data: Buffer | null;
  vdiId: number;
  /** Zero bytes the reply carries after `data` (a read past the object's data: sent from a shared zero buffer). */
  zeros: number;
}

const OK: NodeReply = { result: SD_RES_SUCCESS, data: null, vdiId: 0, zeros: 0 };
function res(result: number, vdiId = 0, data: Buffer | null = null, zeros = 0): NodeReply {
  return result === SD_RES_SUCCESS && vdiId === 0 && data === null && zeros === 0 ? OK : { result, data, vdiId, zeros };
}

export class SheepNode {
  readonly store: ObjectStore;
  readonly cache: ObjectCache;
  readonly vdis = new VdiTable();
  readonly flavour: SheepFlavour;
  readonly objectCacheEnabled: boolean;
  /** CREATE_AND_WRITE_OBJ for an object that already existed (0.5.6 crashed on these). */
  doubleCreates = 0;
  private readonly locks = new Set<number>();

  constructor(dir: string, opts: SheepNodeOptions = {}) {
    this.store = new ObjectStore(dir, opts.sync ?? false);
    this.cache = new ObjectCache(dir, opts.sync ?? false); // early writeback only pays off when flushes fdatasync
    this.flavour = opts.flavour ?? '0.5.6';
    this.objectCacheEnabled = opts.objectCache ?? this.flavour === '0.5.6';
  }

  async init(): Promise<void> {
    await this.store.init();
    this.cache.init();
    for (const [hi, lo] of await this.store.list()) {
      if (!isInodeOid(hi) || lo !== 0) continue;
      const head = await this.store.read(hi, 0, 0, SD_INODE_HEADER_SIZE);
      if (head) this.vdis.upsert(oidVid(hi), decodeInodeHeader(head));
    }
  }

  /** Crash semantics: dirty cache contents vanish, metadata is what the store says. */
  async loseCache(): Promise<number> {
    await this.cache.settle().catch(() => undefined); // a crash: whatever those writes did is thrown away anyway
    const lost = this.cache.loseAll();
    this.refreshAllVdis();
    return lost;
  }

  async flushAll(): Promise<void> {
    await this.cache.flushAll(this.store);
  }

  /** The peer is going down: close the store's descriptors. */
  closeStore(): void {
    this.store.close();
  }

  dropLocks(): void {
    this.locks.clear();
  }

  /** A reply, synchronously when no I/O had to go to the thread pool. */
  handle(h: SheepdogRequestHeader, payload: Buffer | null): Maybe<NodeReply> {
    // Writes still running behind their replies: only more cache writes may pass them (see object-cache.ts).
    if (this.cache.writesBehind > 0 && !this.isCacheWrite(h)) {
      const running = this.cache.settleNow();
      if (running) return running.then(() => this.dispatch(h, payload));
    }
    return this.dispatch(h, payload);
  }

  /** A write that lands in the object cache (what writeData sends there). */
  private isCacheWrite(h: SheepdogRequestHeader): boolean {
    return (h.opcode === SD_OP_WRITE_OBJ || h.opcode === SD_OP_CREATE_AND_WRITE_OBJ) && h.protoVer <= SD_SERVER_PROTO_VER &&
      this.cacheable(h) && (h.flags & SD_FLAG_CMD_CACHE) !== 0 && (h.flags & SD_FLAG_CMD_DIRECT) === 0;
  }

  private dispatch(h: SheepdogRequestHeader, payload: Buffer | null): Maybe<NodeReply> {
    if (h.protoVer > SD_SERVER_PROTO_VER) return res(SD_RES_VER_MISMATCH);
    switch (h.opcode) {
      case SD_OP_READ_OBJ: return this.readObj(h);
      case SD_OP_WRITE_OBJ: return this.writeObj(h, payload, false);
      case SD_OP_CREATE_AND_WRITE_OBJ: return this.writeObj(h, payload, true);
      case SD_OP_FLUSH_VDI: return this.flushVdi(h);
      case SD_OP_NEW_VDI: return this.newVdi(h, payload);
      case SD_OP_LOCK_VDI: return this.lookup(h, payload, true);
      case SD_OP_GET_VDI_INFO: return this.lookup(h, payload, false);
      case SD_OP_RELEASE_VDI: return this.release(h);
      case SD_OP_READ_VDIS: return res(SD_RES_SUCCESS, 0, this.vdis.bitmap.subarray(0, Math.min(h.dataLength, this.vdis.bitmap.length)));
      case SD_OP_DEL_VDI: return this.flavour === '1.0.1' ? this.delVdi(h, payload) : res(SD_RES_INVALID_PARMS);
      case SD_OP_DISCARD_OBJ: return this.flavour === '1.0.1' ? this.discardObj(h) : res(SD_RES_INVALID_PARMS);
      default: return res(SD_RES_INVALID_PARMS); // sheep's answer to an unknown opcode
    }
  }

  // ---- objects ----

  private objSize(hi: number): number {
    return isInodeOid(hi) ? SD_INODE_SIZE : SD_DATA_OBJ_SIZE;
  }

  /** Whether a request may use the cache at all (COW, vmstate and attr objects bypass it). */
  private cacheable(h: SheepdogRequestHeader): boolean {
    return this.objectCacheEnabled && (h.flags & SD_FLAG_CMD_COW) === 0 && !isVmstateOid(h.oidHi) && !isAttrOid(h.oidHi);
  }

  /** The newest bytes of an object: the cache copy if any, else the store. */
  private readCurrent(hi: number, lo: number, offset: number, length: number): Buffer | null {
    const e = this.cache.get(hi, lo);
    if (!e) return this.store.read(hi, lo, offset, length);
    const buf = Buffer.allocUnsafe(length);
    this.cache.read(e, this.store, offset, buf);
    return buf;
  }

  private readObj(h: SheepdogRequestHeader): NodeReply {
    const size = this.objSize(h.oidHi);
    if (h.offset + h.dataLength > size) return res(SD_RES_INVALID_PARMS);
    // A DIRECT read is served from the cache only when the object is cached: readCurrent does exactly that.
    if (!this.cache.get(h.oidHi, h.oidLo)) {
      // From the store: only the object's data is read; the holes after it go out as zeros.
      const r = this.store.readHead(h.oidHi, h.oidLo, h.offset, h.dataLength);
      return r ? res(SD_RES_SUCCESS, 0, r.head, r.zeros) : res(SD_RES_NO_OBJ);
    }
    const data = this.readCurrent(h.oidHi, h.oidLo, h.offset, h.dataLength);
    return data ? res(SD_RES_SUCCESS, 0, data) : res(SD_RES_NO_OBJ);
  }

  private writeObj(h: SheepdogRequestHeader, payload: Buffer | null, create: boolean): Maybe<NodeReply> {
    const size = this.objSize(h.oidHi);
    const data = payload ?? Buffer.alloc(0);
    if (h.offset + data.length > size) return res(SD_RES_INVALID_PARMS);
    const { oidHi: hi, oidLo: lo } = h;
    const vid = oidVid(hi);
    if (!create && this.flavour === '1.0.1' && !isInodeOid(hi)) {
      const rec = this.vdis.get(vid);
      if (rec && rec.snapCtime !== 0) return res(SD_RES_READONLY);
    }
    const exists = this.cache.get(hi, lo) !== undefined || this.store.exists(hi, lo);
    if (!create && !exists) return res(SD_RES_NO_OBJ);
    if (create && exists) this.doubleCreates++;

    if (h.flags & SD_FLAG_CMD_DIRECT && this.objectCacheEnabled && this.cache.hasVdi(vid)) {
      // 0.5.6: a direct write flushes and drops the VDI's cache, then goes to the backend.
      return this.cache.flushVdi(this.store, vid).then(() => this.writeData(h, data, size, create && !exists));
    }
    return this.writeData(h, data, size, create && !exists);
  }

  /** writeObj once the checks (and a DIRECT write's cache flush) are done. */
  private writeData(h: SheepdogRequestHeader, data: Buffer, size: number, fresh: boolean): Maybe<NodeReply> {
    const { oidHi: hi, oidLo: lo } = h;
    const vid = oidVid(hi);
    let cowSource: Buffer | null = null;
    if (fresh && h.flags & SD_FLAG_CMD_COW) {
      cowSource = this.readCurrent(h.cowHi, h.cowLo, 0, this.objSize(h.cowHi));
      if (!cowSource) return res(SD_RES_NO_OBJ);
    }
    const useCache = this.cacheable(h) && (h.flags & SD_FLAG_CMD_CACHE) !== 0 && (h.flags & SD_FLAG_CMD_DIRECT) === 0;
    if (useCache) {
      // COW never gets here (it bypasses the cache), so a fresh object is all zeros plus this write.
      const pending = this.cache.write(this.cache.entry(hi, lo, size, fresh), h.offset, data);
      return pending ? pending.then(() => this.wrote(hi, h.offset)) : this.wrote(hi, h.offset);
    }
    // Write-through to the store; older dirty bytes of the VDI go first so they cannot land on top later.
    if (this.cache.get(hi, lo)) return this.cache.flushVdi(this.store, vid).then(() => this.writeStore(h, data, size, fresh, cowSource));
    return this.writeStore(h, data, size, fresh, cowSource);
  }

  private writeStore(h: SheepdogRequestHeader, data: Buffer, size: number, fresh: boolean, cowSource: Buffer | null): Maybe<NodeReply> {
    const { oidHi: hi, oidLo: lo } = h;
    let pending: Maybe<boolean> | Promise<void> | undefined;
    if (fresh) {
      if (cowSource) {
        cowSource.set(data, h.offset);
        pending = this.store.put(hi, lo, size, cowSource);
      } else {
        pending = this.store.put(hi, lo, size, data, h.offset);
      }
    } else {
      pending = this.store.write(hi, lo, h.offset, data);
      if (pending === false) return res(SD_RES_NO_OBJ);
    }
    if (pending instanceof Promise) {
      return pending.then((ok) => {
        if (ok === false) return res(SD_RES_NO_OBJ);
        this.store.commitLater(hi, lo);
        return this.wrote(hi, h.offset);
      });
    }
    // Durable before the reply leaves: the server holds replies until the group commit of this pass.
    this.store.commitLater(hi, lo);
    return this.wrote(hi, h.offset);
  }

  /** After a write: an inode header write changes what the VDI table says. */
  private wrote(hi: number, offset: number): Maybe<NodeReply> {
    if (!isInodeOid(hi) || offset >= SD_INODE_HEADER_SIZE) return OK;
    // The header must be read back from its file: let a write-behind to it land first.
    const running = this.cache.writesBehind > 0 ? this.cache.settleNow() : undefined;
    if (running) return running.then(() => this.wrote(hi, offset));
    this.refreshVdi(oidVid(hi));
    return OK;
  }

  private flushVdi(h: SheepdogRequestHeader): Maybe<NodeReply> {
    if (!this.objectCacheEnabled) return res(SD_RES_INVALID_PARMS);
    const vid = oidVid(h.oidHi);
    if (!this.cache.hasVdi(vid)) return OK; // nothing dirty: the store already has it all, durably
    return this.cache.flushVdi(this.store, vid).then(() => OK);
  }

  private async discardObj(h: SheepdogRequestHeader): Promise<NodeReply> {
    const vid = oidVid(h.oidHi);
    this.cache.delete(h.oidHi, h.oidLo);
    await this.store.remove(h.oidHi, h.oidLo);
    const at = INODE_DATA_VDI_ID + 4 * h.oidLo;
    const owner = isInodeOid(h.oidHi) ? null : this.readCurrent(inodeOidHi(vid), 0, at, 4);
    if (owner && owner.readUInt32LE(0) === vid) {
      const entry = Buffer.alloc(4);
      entry.writeUInt32LE(0);
      await this.writeInodeBytes(vid, at, entry);
    }
    return OK;
  }

  // ---- VDIs ----

  private refreshVdi(vid: number): void {
    const head = this.readCurrent(inodeOidHi(vid), 0, 0, SD_INODE_HEADER_SIZE);
    if (head) this.vdis.upsert(vid, decodeInodeHeader(head));
  }

  private refreshAllVdis(): void {
    for (const r of this.vdis.all()) this.refreshVdi(r.vid);
  }

  /** Writes inode bytes wherever the inode currently lives (cache copy and store). */
  private async writeInodeBytes(vid: number, offset: number, bytes: Buffer): Promise<void> {
    const hi = inodeOidHi(vid);
    const e = this.cache.get(hi, 0);
    if (e) {
      await this.cache.write(e, offset, bytes);
    } else {
      await this.store.write(hi, 0, offset, bytes);
      this.store.commit(hi, 0);
    }
  }

  /** Name (and tag) from a LOCK/GET_INFO/NEW_VDI/DEL_VDI payload; undefined if malformed. */
  private parseName(payload: Buffer | null, allowTag: boolean): { name: string; tag: string } | undefined {
    if (!payload) return undefined;
    if (payload.length !== SD_MAX_VDI_LEN && !(allowTag && payload.length === SD_MAX_VDI_LEN + SD_MAX_VDI_TAG_LEN)) return undefined;
    const name = readCString(payload, 0, SD_MAX_VDI_LEN);
    const tag = payload.length > SD_MAX_VDI_LEN ? readCString(payload, SD_MAX_VDI_LEN, SD_MAX_VDI_TAG_LEN) : '';
    return { name, tag };
  }

  private find(name: string, tag: string, snapId: number): { vid?: number; result: number } {
    if (this.vdis.versions(name).length === 0) return { result: SD_RES_NO_VDI };
    if (tag !== '') {
      const r = this.vdis.byTag(name, tag);
      return r ? { vid: r.vid, result: SD_RES_SUCCESS } : { result: SD_RES_NO_TAG };
    }
    const r = snapId !== 0 ? this.vdis.bySnapId(name, snapId) : this.vdis.current(name);
    return r ? { vid: r.vid, result: SD_RES_SUCCESS } : { result: SD_RES_NO_VDI };
  }

  private lookup(h: SheepdogRequestHeader, payload: Buffer | null, lock: boolean): NodeReply {
    if (!(h.flags & SD_FLAG_CMD_WRITE)) return res(SD_RES_INVALID_PARMS);
    const n = this.parseName(payload, true);
    if (!n) return res(SD_RES_INVALID_PARMS);
    const found = this.find(n.name, n.tag, h.snapId);
    if (found.vid === undefined) return res(found.result);
    if (lock && this.flavour === '1.0.1') {
      // 1.0.x: a real lock on the working VDI; snapshots are opened shared.
      const rec = this.vdis.get(found.vid)!;
      if (rec.snapCtime === 0) {
        if (this.locks.has(found.vid)) return res(SD_RES_VDI_LOCKED);
        this.locks.add(found.vid);
      }
    }
    return res(SD_RES_SUCCESS, found.vid);
  }

  private release(h: SheepdogRequestHeader): NodeReply {
    if (this.flavour !== '1.0.1') return OK; // 0.5.6: LOCK was a plain lookup
    return this.locks.delete(h.baseVdiId) ? OK : res(SD_RES_VDI_NOT_LOCKED);
  }

  private async newVdi(h: SheepdogRequestHeader, payload: Buffer | null): Promise<NodeReply> {
    const n = this.parseName(payload, false);
    if (!n || n.name === '') return res(SD_RES_INVALID_PARMS);
    const snapshot = h.snapId === 1;
    const versions = this.vdis.versions(n.name);
    if (!snapshot && versions.length > 0) return res(SD_RES_VDI_EXIST);
    let baseInode: Buffer | null = null;
    if (h.baseVdiId !== 0) {
      const base = this.vdis.get(h.baseVdiId);
      if (!base || base.deleted) return res(SD_RES_NO_BASE_VDI);
      // Snapshot metadata must be complete before it is copied: push the cached inode out.
      await this.cache.flushVdi(this.store, h.baseVdiId);
      baseInode = await this.store.read(inodeOidHi(h.baseVdiId), 0, 0, SD_INODE_SIZE);
      if (!baseInode) return res(SD_RES_NO_BASE_VDI);
    } else if (snapshot) {
      return res(SD_RES_NO_BASE_VDI);
    }
    const vid = this.vdis.allocate(n.name);
    if (vid === undefined) return res(SD_RES_FULL_VDI);
    const now = encodeCtime(Date.now());
    const inode = Buffer.alloc(SD_INODE_SIZE);
    if (baseInode) baseInode.copy(inode, INODE_DATA_VDI_ID, INODE_DATA_VDI_ID);
    writeCString(inode, INODE_NAME, SD_MAX_VDI_LEN, n.name);
    writeU64(inode, INODE_CTIME, now);
    writeU64(inode, INODE_VDI_SIZE, h.vdiSize !== 0 || !baseInode ? h.vdiSize : readU64(baseInode, INODE_VDI_SIZE));
    inode.writeUInt8(h.vdiCopies & 0xff || 1, INODE_NR_COPIES);
    inode.writeUInt8(22, INODE_BLOCK_SIZE_SHIFT);
    const latest = versions.reduce((m, r) => Math.max(m, r.snapId), 0);
    inode.writeUInt32LE(snapshot ? latest + 1 : 1, INODE_SNAP_ID);
    inode.writeUInt32LE(vid, INODE_VDI_ID);
    inode.writeUInt32LE(h.baseVdiId, INODE_PARENT_VDI_ID);
    if (snapshot) {
      // The base and the current head of the name become snapshots.
      for (const r of [this.vdis.get(h.baseVdiId), this.vdis.current(n.name)]) {
        if (!r || r.snapCtime !== 0) continue;
        await this.cache.flushVdi(this.store, r.vid);
        const stamp = Buffer.alloc(8);
        writeU64(stamp, 0, now);
        await this.writeInodeBytes(r.vid, INODE_SNAP_CTIME, stamp);
        this.refreshVdi(r.vid);
      }
    }
    if (h.baseVdiId !== 0 && baseInode) {
      // child_vdi_id: first free slot of the parent
      for (let i = 0; i < 1024; i++) {
        const at = INODE_CHILD_VDI_ID + 4 * i;
        if (baseInode.readUInt32LE(at) !== 0) continue;
        const child = Buffer.alloc(4);
        child.writeUInt32LE(vid);
        await this.writeInodeBytes(h.baseVdiId, at, child);
        break;
      }
    }
    // Only up to the last non-zero byte: the rest of the (sparse) file reads as zeros all the same.
    await this.store.put(inodeOidHi(vid), 0, SD_INODE_SIZE, inode.subarray(0, dataEndOf(inode)));
    this.store.commit(inodeOidHi(vid), 0);
    this.vdis.upsert(vid, decodeInodeHeader(inode));
    if (snapshot && this.locks.delete(h.baseVdiId)) this.locks.add(vid); // the writer carries on with the new version
    return res(SD_RES_SUCCESS, vid);
  }

  private async delVdi(h: SheepdogRequestHeader, payload: Buffer | null): Promise<NodeReply> {
    const n = this.parseName(payload, true);
    if (!n) return res(SD_RES_INVALID_PARMS);
    const found = this.find(n.name, n.tag, h.snapId);
    if (found.vid === undefined) return res(found.result);
    if (this.locks.has(found.vid)) return res(SD_RES_VDI_LOCKED);
    // Deleted = empty name; the bitmap bit stays so later vids still probe past it.
    await this.writeInodeBytes(found.vid, INODE_NAME, Buffer.alloc(SD_MAX_VDI_LEN));
    await this.writeInodeBytes(found.vid, INODE_TAG, Buffer.alloc(SD_MAX_VDI_TAG_LEN));
    this.refreshVdi(found.vid);
    return OK;
  }
}

