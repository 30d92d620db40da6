/**
 * The message log on disk: append-only segment files in one folder, numbered
 * in the order they were started (0000000000.seg, 0000000001.seg, ...), each a run of records:
 *
 *   0  u8   type (1 message, 2 tombstone)
 *   1  u8   flags (bit 0: a message held deleted, with no body: imported tombstones)
 *   2  u16  0
 *   4  u32  body length
 *   8  f64  seq (tombstone: the seq it deletes)
 *   16 f64  receipt time, epoch ms (tombstone: when deleted)
 *   24 32 B packet id
 *   56 u32  recipient hash (recipientHash: the key's modulus's lowest 4 bytes)
 *   60 u32  CRC-32 of the body
 *   64 u32  CRC-32 of bytes 0-63
 *   68 u32  0
 *   72      body: DER key (294) ‖ signature envelope (1309) ‖ message envelope
 *
 * Little-endian. Only the newest segment is written to; the others are
 * sealed and dropped whole once everything in them has expired. A crash can
 * only leave a torn tail in the newest segment: the scan at open checks
 * every header's CRC, and every body's in the newest segment, and cuts the
 * file at the first record that fails.
 */
import { closeSync, fdatasync, fsyncSync, ftruncateSync, mkdirSync, openSync, readdirSync, readSync, statSync, unlinkSync, writeSync, writevSync } from 'node:fs';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import type { Logger } from '../log.ts';
import { SPKI_BYTES } from '../../protocol/index.ts';

export const HEADER = 72;

/**
 * The recipient hash a record carries: the modulus's lowest 4 bytes (the
 * key is canonical DER, so they sit just before the 5-byte exponent; they
 * are as random as the key). Keys sharing one share a page chain, and pages
 * compare the full key; someone who made a key to share a victim's gains
 * nothing they could not have by sending the victim messages.
 */
export const recipientHash = (der: Uint8Array): number => (der[SPKI_BYTES - 9]! | (der[SPKI_BYTES - 8]! << 8) | (der[SPKI_BYTES - 7]! << 16) | (der[SPKI_BYTES - 6]! << 24)) >>> 0;
export const TYPE_MESSAGE = 1;
export const TYPE_TOMBSTONE = 2;
export const FLAG_DELETED = 1;
/** Far above any valid body (validation caps a packet well below this): a header claiming more is corrupt. */
const MAX_BODY = 16 * 1024 * 1024;
const SUFFIX = '.seg';
const NAME = /^(\d{10})\.seg$/;
/** Buffers per writev (Linux's IOV_MAX). */
const IOV_MAX = 1024;
/** Sealed segments kept open for reading at once. */
const READ_FDS = 32;

export interface RecordHeader {
  type: number;
  flags: number;
  len: number;
  seq: number;
  at: number;
  /** A view into the scan's buffer: copy it to keep it. */
  id: Buffer;
  rk: number;
}

/** Writes a record header at `off` in `out`, for `body` (by default the len bytes that follow the header in `out`). */
export function writeHeader(out: Buffer, off: number, h: Omit<RecordHeader, 'id'> & { id: Uint8Array }, body: Uint8Array = out.subarray(off + HEADER, off + HEADER + h.len)): void {
  out.writeUInt8(h.type, off);
  out.writeUInt8(h.flags, off + 1);
  out.writeUInt16LE(0, off + 2);
  out.writeUInt32LE(h.len, off + 4);
  out.writeDoubleLE(h.seq, off + 8);
  out.writeDoubleLE(h.at, off + 16);
  out.set(h.id, off + 24);
  out.writeUInt32LE(h.rk >>> 0, off + 56);
  out.writeUInt32LE(h.len ? crc32(body) : 0, off + 60);
  out.writeUInt32LE(crc32(out.subarray(off, off + 64)), off + 64);
  out.writeUInt32LE(0, off + 68);
}

function readHeader(b: Buffer, off: number): RecordHeader | undefined {
  if (b.readUInt32LE(off + 64) !== crc32(b.subarray(off, off + 64))) return undefined;
  const type = b.readUInt8(off);
  const len = b.readUInt32LE(off + 4);
  if ((type !== TYPE_MESSAGE && type !== TYPE_TOMBSTONE) || len > MAX_BODY) return undefined;
  return { type, flags: b.readUInt8(off + 1), len, seq: b.readDoubleLE(off + 8), at: b.readDoubleLE(off + 16), id: b.subarray(off + 24, off + 56), rk: b.readUInt32LE(off + 56) };
}

interface Segment {
  /** Ordinal: increasing in log order, what the record table stores. */
  no: number;
  /** Receipt time of its first message (undefined: none yet). */
  firstAt?: number;
  path: string;
  size: number;
  /** Highest table row this segment holds or deletes (-1: none): dropped once rows up to it have expired. */
  lastRow: number;
}

export interface ScanVisitor {
  /** `bodyOff`: where the body starts in segment `segment`. Returns the table row it became (-1: none). */
  record(h: RecordHeader, segment: number, bodyOff: number): number;
}

export class SegmentLog {
  readonly dir: string;
  private readonly segmentBytes: number;
  private readonly segmentSpanMs: number;
  private readonly fsync: boolean;
  private readonly log: Logger;
  /** Oldest first; the last is the one written to. */
  private segments: Segment[] = [];
  private writeFd = -1;
  private readonly readFds = new Map<number, number>();
  /** Syncs in flight, by fd; and write fds to close once theirs are done. */
  private readonly syncing = new Map<number, number>();
  private readonly retired = new Set<number>();
  private nextNo = 0;

  constructor(dir: string, opts: { segmentBytes: number; segmentSpanMs: number; fsync: boolean; log: Logger }) {
    this.dir = dir;
    this.segmentBytes = opts.segmentBytes;
    this.segmentSpanMs = opts.segmentSpanMs;
    this.fsync = opts.fsync;
    this.log = opts.log;
    mkdirSync(dir, { recursive: true });
  }

  /** Whether any segment exists (before open: a fresh log). */
  isEmpty(): boolean {
    return this.listNames().length === 0;
  }

  private listNames(): string[] {
    return readdirSync(this.dir).filter((n) => NAME.test(n)).sort();
  }

  /** Reads every record in log order, cutting a torn tail off the newest segment. */
  scan(visit: ScanVisitor): void {
    const names = this.listNames();
    const buf = Buffer.allocUnsafe(1 << 20);
    names.forEach((name, k) => {
      const path = join(this.dir, name);
      const newest = k === names.length - 1;
      const seg: Segment = { no: Number(NAME.exec(name)![1]), path, size: statSync(path).size, lastRow: -1 };
      this.nextNo = seg.no + 1;
      const fd = openSync(path, newest ? 'r+' : 'r');
      try {
        // A window of the file; records are read from it, refilled when one runs past its end.
        let winStart = 0;
        let winLen = 0;
        let pos = 0;
        let good = 0;
        const fill = (at: number, need: number): boolean => {
          if (at >= winStart && at + need <= winStart + winLen) return true;
          winStart = at;
          winLen = readSync(fd, buf, 0, Math.min(buf.length, seg.size - at), at);
          return need <= winLen;
        };
        while (pos + HEADER <= seg.size) {
          if (!fill(pos, HEADER)) break;
          const h = readHeader(buf, pos - winStart);
          if (!h || pos + HEADER + h.len > seg.size) break;
          // Bodies are checked where a crash can have torn them: the newest segment.
          if (newest && h.len > 0) {
            const crc = buf.readUInt32LE(pos - winStart + 60);
            let ok: boolean;
            if (h.len + HEADER <= buf.length) {
              const id = Buffer.from(h.id);
              if (!fill(pos, HEADER + h.len)) break;
              ok = crc32(buf.subarray(pos - winStart + HEADER, pos - winStart + HEADER + h.len)) === crc;
              h.id = id;
            } else {
              const body = Buffer.allocUnsafe(h.len);
              ok = readSync(fd, body, 0, h.len, pos + HEADER) === h.len && crc32(body) === crc;
            }
            if (!ok) break;
          }
          if (h.type === TYPE_MESSAGE) seg.firstAt ??= h.at;
          const row = visit.record(h, seg.no, pos + HEADER);
          if (row > seg.lastRow) seg.lastRow = row;
          pos += HEADER + h.len;
          good = pos;
        }
        if (good < seg.size) {
          if (newest) {
            this.log.warn({ segment: name, kept: good, cut: seg.size - good }, 'message log: cut a torn or corrupt tail');
            ftruncateSync(fd, good);
            seg.size = good;
          } else this.log.error({ segment: name, kept: good, ignored: seg.size - good }, 'message log: corrupt record in a sealed segment; ignoring the rest of it');
        }
      } finally {
        closeSync(fd);
      }
      this.segments.push(seg);
    });
  }

  /** Opens the newest segment for appending, or starts one. */
  openForAppend(): void {
    const last = this.segments.at(-1);
    if (last && last.size < this.segmentBytes) this.writeFd = openSync(last.path, 'r+');
    else this.roll();
  }

  private roll(): void {
    if (this.writeFd >= 0) {
      // The sealed file is on disk before anything goes into the next one.
      if (this.fsync) fsyncSync(this.writeFd);
      this.release(this.writeFd);
    }
    const path = join(this.dir, `${String(this.nextNo).padStart(10, '0')}${SUFFIX}`);
    this.writeFd = openSync(path, 'wx+');
    this.segments.push({ no: this.nextNo++, path, size: 0, lastRow: -1 });
    // The new file's name must survive a power cut as well as its contents.
    if (this.fsync) this.syncDir();
  }

  private syncDir(): void {
    const d = openSync(this.dir, 'r');
    try {
      fsyncSync(d);
    } finally {
      closeSync(d);
    }
  }

  private get current(): Segment {
    return this.segments.at(-1)!;
  }

  /**
   * Appends `buf` (whole records) to the newest segment, first starting a new
   * one when it is full or its first message is `segmentSpanMs` older than
   * `at` (the receipt time of the first message appended; omitted for
   * tombstones). The span bounds how long an expired or deleted message's
   * bytes outlive it on disk: a segment goes once its newest message expires.
   * Returns the segment and the offset
   * the buffer starts at. In the page cache on return: readable at once,
   * and safe from a process crash; durable after sync().
   */
  append(buf: Buffer | Buffer[], at?: number): { segment: number; off: number } {
    const cur = this.current;
    if (cur.size >= this.segmentBytes || (at !== undefined && cur.firstAt !== undefined && at - cur.firstAt >= this.segmentSpanMs)) this.roll();
    const seg = this.current;
    if (at !== undefined) seg.firstAt ??= at;
    const off = seg.size;
    const parts = Array.isArray(buf) ? buf : [buf];
    let length = 0;
    for (const b of parts) length += b.length;
    let done = 0;
    try {
      // One writev per IOV_MAX parts (headers and bodies are not copied together first).
      for (let i = 0; i < parts.length; i += IOV_MAX) {
        const group = parts.slice(i, i + IOV_MAX);
        let wrote = writevSync(this.writeFd, group, off + done);
        done += wrote;
        // The kernel may take less than all: the rest of the group one buffer at a time.
        for (const b of group) {
          if (wrote >= b.length) {
            wrote -= b.length;
            continue;
          }
          for (let pos = wrote; pos < b.length; ) {
            const n = writeSync(this.writeFd, b, pos, b.length - pos, off + done);
            pos += n;
            done += n;
          }
          wrote = 0;
        }
      }
    } catch (err) {
      // Part of the batch may be in the file: cut it back, or later appends would follow a torn record.
      try {
        if (done > 0) ftruncateSync(this.writeFd, off);
      } catch {
        throw Object.assign(new Error(`message log: a failed write could not be cut back (${(err as Error).message})`), { code: 'ELOG_TORN' });
      }
      throw err;
    }
    seg.size += length;
    return { segment: seg.no, off };
  }

  /** Notes that segment `no` holds or deletes `row` (for dropping it once that row expires). */
  noteRow(no: number, row: number): void {
    const seg = this.current.no === no ? this.current : this.segments.find((s) => s.no === no);
    if (seg && row > seg.lastRow) seg.lastRow = row;
  }

  /** Flushes the newest segment to disk (fdatasync on the thread pool, off the event loop). */
  sync(): Promise<void> {
    const fd = this.writeFd;
    this.syncing.set(fd, (this.syncing.get(fd) ?? 0) + 1);
    return new Promise((resolve, reject) =>
      fdatasync(fd, (err) => {
        const n = this.syncing.get(fd)! - 1;
        if (n > 0) this.syncing.set(fd, n);
        else {
          this.syncing.delete(fd);
          if (this.retired.delete(fd)) closeSync(fd);
        }
        if (err) reject(err);
        else resolve();
      }),
    );
  }

  /**
   * Closes a write fd, or, while a sync on the thread pool still uses it,
   * once that is done: closed under it, the sync would fail, or worse, flush
   * whichever file opened next under the same number.
   */
  private release(fd: number): void {
    if (this.syncing.has(fd)) this.retired.add(fd);
    else closeSync(fd);
  }

  /** Reads `len` bytes at `off` of segment `no` into `out` at `outOff`. */
  read(no: number, off: number, len: number, out: Buffer, outOff = 0): void {
    const fd = this.readFd(no);
    let done = 0;
    while (done < len) {
      const n = readSync(fd, out, outOff + done, len - done, off + done);
      if (n === 0) throw new Error(`message log: segment ${no} ends before offset ${off + len}`);
      done += n;
    }
  }

  private readFd(no: number): number {
    if (no === this.current.no) return this.writeFd;
    let fd = this.readFds.get(no);
    if (fd !== undefined) {
      // Most recently used last: the map's order is the eviction order.
      this.readFds.delete(no);
      this.readFds.set(no, fd);
      return fd;
    }
    const seg = this.segments.find((s) => s.no === no);
    if (!seg) throw new Error(`message log: no segment ${no}`);
    fd = openSync(seg.path, 'r');
    this.readFds.set(no, fd);
    if (this.readFds.size > READ_FDS) {
      const [oldNo, oldFd] = this.readFds.entries().next().value as [number, number];
      this.readFds.delete(oldNo);
      closeSync(oldFd);
    }
    return fd;
  }

  /** Deletes the oldest sealed segments all of whose rows are below `firstLiveRow`. Returns how many went. */
  dropExpired(firstLiveRow: number): number {
    let n = 0;
    while (this.segments.length > 1 && this.segments[0]!.lastRow < firstLiveRow) {
      const seg = this.segments.shift()!;
      const fd = this.readFds.get(seg.no);
      if (fd !== undefined) {
        closeSync(fd);
        this.readFds.delete(seg.no);
      }
      unlinkSync(seg.path);
      n++;
    }
    return n;
  }

  /** Segment files and their total size (for tests and status). */
  files(): { count: number; bytes: number } {
    return { count: this.segments.length, bytes: this.segments.reduce((a, s) => a + s.size, 0) };
  }

  close(): void {
    for (const fd of this.readFds.values()) closeSync(fd);
    this.readFds.clear();
    if (this.writeFd >= 0) {
      if (this.fsync) fsyncSync(this.writeFd);
      this.release(this.writeFd);
      this.writeFd = -1;
    }
  }
}
