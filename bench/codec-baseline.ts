// The wire codec as it was before the wire module (src/protocol/codec.ts at
// 522be6c), kept verbatim as the baseline of bench/codec.ts: the new module's
// hot encoders and decoders must not be slower than these. Not used by the
// server; do not change it (it is the reference point).
import { protocolError, type ProtocolError } from '../src/protocol/errors.js'

export const Op = {
  PIXEL: 0x00,
  PIXELS: 0x01,
  RECT: 0x02,
  CURSOR: 0x03,
  SNAPSHOT: 0x10,
  UPDATES: 0x11,
  CURSORS: 0x12
} as const

/** x u16, y u16, r, g, b: the record layout shared by PIXEL(S) and UPDATES. */
export const PIXEL_RECORD_BYTES = 7

const PIXEL_BYTES = 8
const PIXELS_HEADER_BYTES = 3
const RECT_BYTES = 12
const CURSOR_BYTES = 5
const SNAPSHOT_HEADER_BYTES = 14
const UPDATES_HEADER_BYTES = 13
const CURSORS_HEADER_BYTES = 3
const CURSOR_ENTRY_BYTES = 8

export interface Bounds {
  width: number
  height: number
  /** largest PIXELS count accepted */
  maxStrokePixels: number
  /** largest RECT area (w·h) accepted */
  maxRectPixels: number
}

export type DrawOp =
  /** PIXEL or PIXELS: `records.length / 7` packed records in arrival order (a view into the message). */
  | { kind: 'pixels', records: Buffer }
  | { kind: 'rect', x: number, y: number, w: number, h: number, color: number }
  | { kind: 'cursor', x: number, y: number }

export type Decoded<T> = { ok: true, value: T } | { ok: false, error: ProtocolError }

function fail (code: ProtocolError['code'], message: string): { ok: false, error: ProtocolError } {
  return { ok: false, error: protocolError(code, message) }
}

// Manual reads: valid for any Uint8Array, and the callers check lengths first.
function u16 (buf: Uint8Array, off: number): number {
  return (buf[off] << 8) | buf[off + 1]
}

function rgb (buf: Uint8Array, off: number): number {
  return (buf[off] << 16) | (buf[off + 1] << 8) | buf[off + 2]
}

function outOfBounds (what: string, x: number, y: number, bounds: Bounds): string | null {
  if (x < bounds.width && y < bounds.height) return null
  return `${what} (${x},${y}) is outside the ${bounds.width}x${bounds.height} canvas`
}

function hex (op: number): string {
  return '0x' + op.toString(16).padStart(2, '0')
}

/**
 * Decode one binary client message. Any malformed or out-of-range message
 * yields `{ ok: false }` with a BAD_MESSAGE, OUT_OF_BOUNDS or TOO_LARGE error
 * saying what was wrong; this function never throws.
 */
export function decodeClientBinary (buf: Buffer, bounds: Bounds): Decoded<DrawOp> {
  if (buf.length === 0) return fail('BAD_MESSAGE', 'empty binary message')
  const op = buf[0]
  switch (op) {
    case Op.PIXEL: {
      if (buf.length !== PIXEL_BYTES) return fail('BAD_MESSAGE', `PIXEL must be ${PIXEL_BYTES} bytes, got ${buf.length}`)
      const oob = outOfBounds('PIXEL', u16(buf, 1), u16(buf, 3), bounds)
      if (oob !== null) return fail('OUT_OF_BOUNDS', oob)
      return { ok: true, value: { kind: 'pixels', records: buf.subarray(1, PIXEL_BYTES) } }
    }
    case Op.PIXELS: {
      if (buf.length < PIXELS_HEADER_BYTES) {
        return fail('BAD_MESSAGE', `PIXELS needs at least ${PIXELS_HEADER_BYTES} bytes (op and count), got ${buf.length}`)
      }
      const count = u16(buf, 1)
      if (count === 0) return fail('BAD_MESSAGE', 'PIXELS count must be at least 1, got 0')
      if (count > bounds.maxStrokePixels) {
        return fail('TOO_LARGE', `PIXELS count ${count} exceeds the maximum stroke of ${bounds.maxStrokePixels} pixels`)
      }
      const expected = PIXELS_HEADER_BYTES + PIXEL_RECORD_BYTES * count
      if (buf.length !== expected) {
        return fail('BAD_MESSAGE', `PIXELS with count ${count} must be ${expected} bytes, got ${buf.length}`)
      }
      for (let i = 0, off = PIXELS_HEADER_BYTES; i < count; i++, off += PIXEL_RECORD_BYTES) {
        const oob = outOfBounds(`PIXELS record ${i}`, u16(buf, off), u16(buf, off + 2), bounds)
        if (oob !== null) return fail('OUT_OF_BOUNDS', oob)
      }
      return { ok: true, value: { kind: 'pixels', records: buf.subarray(PIXELS_HEADER_BYTES) } }
    }
    case Op.RECT: {
      if (buf.length !== RECT_BYTES) return fail('BAD_MESSAGE', `RECT must be ${RECT_BYTES} bytes, got ${buf.length}`)
      const x = u16(buf, 1)
      const y = u16(buf, 3)
      const w = u16(buf, 5)
      const h = u16(buf, 7)
      if (w === 0 || h === 0) return fail('BAD_MESSAGE', `RECT must have a non-zero size, got ${w}x${h}`)
      if (x + w > bounds.width || y + h > bounds.height) {
        return fail('OUT_OF_BOUNDS', `RECT ${w}x${h} at (${x},${y}) extends past the ${bounds.width}x${bounds.height} canvas`)
      }
      if (w * h > bounds.maxRectPixels) {
        return fail('TOO_LARGE', `RECT of ${w * h} pixels exceeds the maximum of ${bounds.maxRectPixels}`)
      }
      return { ok: true, value: { kind: 'rect', x, y, w, h, color: rgb(buf, 9) } }
    }
    case Op.CURSOR: {
      if (buf.length !== CURSOR_BYTES) return fail('BAD_MESSAGE', `CURSOR must be ${CURSOR_BYTES} bytes, got ${buf.length}`)
      const x = u16(buf, 1)
      const y = u16(buf, 3)
      const oob = outOfBounds('CURSOR', x, y, bounds)
      if (oob !== null) return fail('OUT_OF_BOUNDS', oob)
      return { ok: true, value: { kind: 'cursor', x, y } }
    }
    default:
      return fail('BAD_MESSAGE', `unknown binary op ${hex(op)}`)
  }
}

function checkColor (color: number): void {
  if (!Number.isInteger(color) || color < 0 || color > 0xffffff) {
    throw new RangeError(`colour must be an integer 0..0xffffff, got ${color}`)
  }
}

/** Write one 7-byte record at `offset`. Throws RangeError on x, y or colour out of range. */
export function writePixelRecord (buf: Buffer, offset: number, x: number, y: number, color: number): void {
  checkColor(color)
  buf.writeUInt16BE(x, offset)
  buf.writeUInt16BE(y, offset + 2)
  buf[offset + 4] = color >>> 16
  buf[offset + 5] = (color >>> 8) & 0xff
  buf[offset + 6] = color & 0xff
}

/** SNAPSHOT: op, seq u64, width u16, height u16, encoding u8 (0 raw RGB rows, 1 deflated), payload. */
export function encodeSnapshot (seq: number, width: number, height: number, encoding: 0 | 1, payload: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(SNAPSHOT_HEADER_BYTES + payload.length)
  out[0] = Op.SNAPSHOT
  out.writeBigUInt64BE(toU64(seq), 1)
  out.writeUInt16BE(width, 9)
  out.writeUInt16BE(height, 11)
  out.writeUInt8(encoding, 13)
  out.set(payload, SNAPSHOT_HEADER_BYTES)
  return out
}

/** UPDATES: op, seq u64, count u32, then the packed records. Throws RangeError if records is not whole records. */
export function encodeUpdates (seq: number, records: Uint8Array): Buffer {
  if (records.length % PIXEL_RECORD_BYTES !== 0) {
    throw new RangeError(`UPDATES records must be a multiple of ${PIXEL_RECORD_BYTES} bytes, got ${records.length}`)
  }
  const out = Buffer.allocUnsafe(UPDATES_HEADER_BYTES + records.length)
  out[0] = Op.UPDATES
  out.writeBigUInt64BE(toU64(seq), 1)
  out.writeUInt32BE(records.length / PIXEL_RECORD_BYTES, 9)
  out.set(records, UPDATES_HEADER_BYTES)
  return out
}

/** Expand a rect into packed records, row-major (y outer, x inner). */
export function rectRecords (x: number, y: number, w: number, h: number, color: number): Buffer {
  checkColor(color)
  if (!Number.isInteger(w) || !Number.isInteger(h) || w < 0 || h < 0) {
    throw new RangeError(`rect size must be non-negative integers, got ${w}x${h}`)
  }
  const out = Buffer.allocUnsafe(w * h * PIXEL_RECORD_BYTES)
  let off = 0
  for (let row = y; row < y + h; row++) {
    for (let col = x; col < x + w; col++) {
      writePixelRecord(out, off, col, row, color)
      off += PIXEL_RECORD_BYTES
    }
  }
  return out
}

/** CURSORS: op, count u16, then count × (connectionId u32, x u16, y u16). */
export function encodeCursors (entries: ReadonlyArray<{ connectionId: number, x: number, y: number }>): Buffer {
  if (entries.length > 0xffff) throw new RangeError(`CURSORS holds at most 65535 entries, got ${entries.length}`)
  const out = Buffer.allocUnsafe(CURSORS_HEADER_BYTES + CURSOR_ENTRY_BYTES * entries.length)
  out[0] = Op.CURSORS
  out.writeUInt16BE(entries.length, 1)
  let off = CURSORS_HEADER_BYTES
  for (const e of entries) {
    out.writeUInt32BE(e.connectionId, off)
    out.writeUInt16BE(e.x, off + 4)
    out.writeUInt16BE(e.y, off + 6)
    off += CURSOR_ENTRY_BYTES
  }
  return out
}

function toU64 (seq: number): bigint {
  if (!Number.isSafeInteger(seq) || seq < 0) throw new RangeError(`seq must be a non-negative safe integer, got ${seq}`)
  return BigInt(seq)
}
