// Server → client binary frames (PROTOCOL.md §4): what the server encodes
// and what a client decodes, side by side. Part of the wire module (wire.ts).
//
// Encoders throw RangeError on arguments that cannot be represented (a bug
// in the caller). Decoders never throw: a frame that is short, too long for
// its count, of another op or with a seq beyond 2^53 is refused with a
// BAD_MESSAGE error saying what was wrong.
import {
  CURSORS_HEADER_BYTES, CURSOR_ENTRY_BYTES, MAX_CURSORS_COUNT, MAX_U16, Op, PIXEL_RECORD_BYTES,
  SNAPSHOT_HEADER_BYTES, SnapshotEncoding, UPDATES_HEADER_BYTES,
  allocBytes, checkColor, checkSeq, checkU16, checkU32, decodeFailure, hexOp, putRecord, readU16, readU32, readU64,
  writeU16, writeU32, writeU64,
  type Alloc, type Decoded, type SnapshotEncodingValue
} from './wire-format.js'

export interface SnapshotFrame {
  seq: number
  width: number
  height: number
  encoding: SnapshotEncodingValue
  /** RGB rows (encoding 0) or those rows deflated (1); a view into the frame */
  payload: Uint8Array
}

export interface UpdatesFrame {
  /** the canvas seq after the last record */
  seq: number
  count: number
  /** `count` packed records; a view into the frame */
  records: Uint8Array
}

export interface CursorEntry { connectionId: number, x: number, y: number }

export type ServerFrame =
  | ({ kind: 'snapshot' } & SnapshotFrame)
  | ({ kind: 'updates' } & UpdatesFrame)
  | { kind: 'cursors', cursors: CursorEntry[] }

// Encoders

/** SNAPSHOT: op, seq u64, width u16, height u16, encoding u8, payload. */
export function encodeSnapshot<T extends Uint8Array = Uint8Array> (
  seq: number, width: number, height: number, encoding: SnapshotEncodingValue, payload: Uint8Array, alloc: Alloc<T> = allocBytes as Alloc<T>
): T {
  checkSeq(seq); checkU16(width, 'width'); checkU16(height, 'height')
  if (encoding !== SnapshotEncoding.RAW && encoding !== SnapshotEncoding.DEFLATE) throw new RangeError(`snapshot encoding must be 0 or 1, got ${encoding}`)
  const out = alloc(SNAPSHOT_HEADER_BYTES + payload.length)
  out[0] = Op.SNAPSHOT
  writeU64(out, 1, seq)
  writeU16(out, 9, width)
  writeU16(out, 11, height)
  out[13] = encoding
  out.set(payload, SNAPSHOT_HEADER_BYTES)
  return out
}

/** UPDATES: op, seq u64, count u32, then the packed records (whole records only). */
export function encodeUpdates<T extends Uint8Array = Uint8Array> (seq: number, records: Uint8Array, alloc: Alloc<T> = allocBytes as Alloc<T>): T {
  checkSeq(seq)
  if (records.length % PIXEL_RECORD_BYTES !== 0) {
    throw new RangeError(`UPDATES records must be a multiple of ${PIXEL_RECORD_BYTES} bytes, got ${records.length}`)
  }
  const out = alloc(UPDATES_HEADER_BYTES + records.length)
  out[0] = Op.UPDATES
  writeU64(out, 1, seq)
  writeU32(out, 9, records.length / PIXEL_RECORD_BYTES)
  out.set(records, UPDATES_HEADER_BYTES)
  return out
}

/** CURSORS: op, count u16, then count × (connectionId u32, x u16, y u16). */
export function encodeCursors<T extends Uint8Array = Uint8Array> (
  entries: ReadonlyArray<CursorEntry>, alloc: Alloc<T> = allocBytes as Alloc<T>
): T {
  const n = entries.length
  if (n > MAX_CURSORS_COUNT) throw new RangeError(`CURSORS holds at most ${MAX_CURSORS_COUNT} entries, got ${n}`)
  const out = alloc(CURSORS_HEADER_BYTES + CURSOR_ENTRY_BYTES * n)
  out[0] = Op.CURSORS
  writeU16(out, 1, n)
  for (let i = 0, off = CURSORS_HEADER_BYTES; i < n; i++, off += CURSOR_ENTRY_BYTES) {
    const e = entries[i]
    checkU32(e.connectionId, 'connectionId'); checkU16(e.x, 'x'); checkU16(e.y, 'y')
    writeU32(out, off, e.connectionId)
    writeU16(out, off + 4, e.x)
    writeU16(out, off + 6, e.y)
  }
  return out
}

/** A rect as packed records, row-major (y outer, x inner): how a RECT reaches UPDATES. */
export function rectRecords<T extends Uint8Array = Uint8Array> (
  x: number, y: number, w: number, h: number, color: number, alloc: Alloc<T> = allocBytes as Alloc<T>
): T {
  checkColor(color)
  if (!Number.isInteger(w) || !Number.isInteger(h) || w < 0 || h < 0) {
    throw new RangeError(`rect size must be non-negative integers, got ${w}x${h}`)
  }
  const out = alloc(w * h * PIXEL_RECORD_BYTES)
  if (w === 0 || h === 0) return out
  checkU16(x, 'x'); checkU16(y, 'y')
  if (x + w - 1 > MAX_U16 || y + h - 1 > MAX_U16) throw new RangeError(`rect ${w}x${h} at (${x},${y}) reaches past 65535`)
  let off = 0
  for (let row = y; row < y + h; row++) {
    for (let col = x; col < x + w; col++) {
      putRecord(out, off, col, row, color)
      off += PIXEL_RECORD_BYTES
    }
  }
  return out
}

// Decoders (a client's side)

const bad = (message: string) => decodeFailure('BAD_MESSAGE', message)

export function decodeSnapshot (buf: Uint8Array): Decoded<SnapshotFrame> {
  if (buf.length < SNAPSHOT_HEADER_BYTES) return bad(`SNAPSHOT needs at least ${SNAPSHOT_HEADER_BYTES} bytes, got ${buf.length}`)
  if (buf[0] !== Op.SNAPSHOT) return bad(`not a SNAPSHOT: op ${hexOp(buf[0])}`)
  const seq = readU64(buf, 1)
  if (seq < 0) return bad('SNAPSHOT seq is beyond 2^53')
  const width = readU16(buf, 9)
  const height = readU16(buf, 11)
  const encoding = buf[13]
  if (encoding !== SnapshotEncoding.RAW && encoding !== SnapshotEncoding.DEFLATE) return bad(`unknown SNAPSHOT encoding ${encoding}`)
  const payload = buf.subarray(SNAPSHOT_HEADER_BYTES)
  if (encoding === SnapshotEncoding.RAW && payload.length !== width * height * 3) {
    return bad(`raw SNAPSHOT of ${width}x${height} must carry ${width * height * 3} bytes, got ${payload.length}`)
  }
  return { ok: true, value: { seq, width, height, encoding, payload } }
}

export function decodeUpdates (buf: Uint8Array): Decoded<UpdatesFrame> {
  if (buf.length < UPDATES_HEADER_BYTES) return bad(`UPDATES needs at least ${UPDATES_HEADER_BYTES} bytes, got ${buf.length}`)
  if (buf[0] !== Op.UPDATES) return bad(`not an UPDATES: op ${hexOp(buf[0])}`)
  const seq = readU64(buf, 1)
  if (seq < 0) return bad('UPDATES seq is beyond 2^53')
  const count = readU32(buf, 9)
  const expected = UPDATES_HEADER_BYTES + PIXEL_RECORD_BYTES * count
  if (buf.length !== expected) return bad(`UPDATES with count ${count} must be ${expected} bytes, got ${buf.length}`)
  return { ok: true, value: { seq, count, records: buf.subarray(UPDATES_HEADER_BYTES) } }
}

/**
 * An UPDATES frame's record count, read from its header, or -1 when the
 * frame is not a whole UPDATES (decodeUpdates says what is wrong). For a
 * hot path that reads the records in place (from UPDATES_HEADER_BYTES): no
 * allocation, the same checks as decodeUpdates.
 */
export function updatesCount (buf: Uint8Array): number {
  if (buf.length < UPDATES_HEADER_BYTES || buf[0] !== Op.UPDATES || readU32(buf, 1) > 0x1fffff) return -1
  const count = readU32(buf, 9)
  return buf.length === UPDATES_HEADER_BYTES + PIXEL_RECORD_BYTES * count ? count : -1
}

/** An UPDATES frame's seq (the canvas seq after its last record), from its header: check the frame with updatesCount first. */
export function updatesSeq (buf: Uint8Array): number {
  return readU64(buf, 1)
}

export function decodeCursors (buf: Uint8Array): Decoded<CursorEntry[]> {
  if (buf.length < CURSORS_HEADER_BYTES) return bad(`CURSORS needs at least ${CURSORS_HEADER_BYTES} bytes, got ${buf.length}`)
  if (buf[0] !== Op.CURSORS) return bad(`not a CURSORS: op ${hexOp(buf[0])}`)
  const count = readU16(buf, 1)
  const expected = CURSORS_HEADER_BYTES + CURSOR_ENTRY_BYTES * count
  if (buf.length !== expected) return bad(`CURSORS with count ${count} must be ${expected} bytes, got ${buf.length}`)
  const out: CursorEntry[] = new Array(count)
  for (let i = 0, off = CURSORS_HEADER_BYTES; i < count; i++, off += CURSOR_ENTRY_BYTES) {
    out[i] = { connectionId: readU32(buf, off), x: readU16(buf, off + 4), y: readU16(buf, off + 6) }
  }
  return { ok: true, value: out }
}

/** Any binary frame from the server, by its op. */
export function decodeServerBinary (buf: Uint8Array): Decoded<ServerFrame> {
  if (buf.length === 0) return bad('empty binary frame')
  switch (buf[0]) {
    case Op.SNAPSHOT: {
      const r = decodeSnapshot(buf)
      return r.ok ? { ok: true, value: { kind: 'snapshot', ...r.value } } : r
    }
    case Op.UPDATES: {
      const r = decodeUpdates(buf)
      return r.ok ? { ok: true, value: { kind: 'updates', ...r.value } } : r
    }
    case Op.CURSORS: {
      const r = decodeCursors(buf)
      return r.ok ? { ok: true, value: { kind: 'cursors', cursors: r.value } } : r
    }
    default:
      return bad(`unknown server op ${hexOp(buf[0])}`)
  }
}
