// Client → server binary frames (PROTOCOL.md §3): what a client encodes and
// what the server decodes, side by side. Part of the wire module (wire.ts).
//
// Decoding never throws: any malformed or out-of-range message yields a
// BAD_MESSAGE, OUT_OF_BOUNDS or TOO_LARGE error saying what was wrong.
// Encoders throw RangeError on arguments that cannot be represented (a bug
// in the caller); they do not apply a server's limits (MAX_STROKE_PIXELS,
// canvas size): the server answers those.
import {
  CURSOR_BYTES, MAX_PIXELS_COUNT, Op, PIXELS_HEADER_BYTES, PIXEL_BYTES, PIXEL_RECORD_BYTES, RECT_BYTES,
  allocBytes, checkColor, checkU16, decodeFailure, hexOp, putRecord, readRgb, readU16, writeU16,
  type Alloc, type Decoded
} from './wire-format.js'

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
  | { kind: 'pixels', records: Uint8Array }
  | { kind: 'rect', x: number, y: number, w: number, h: number, color: number }
  | { kind: 'cursor', x: number, y: number }

// Encoders

/** PIXEL: one pixel. */
export function encodePixel<T extends Uint8Array = Uint8Array> (x: number, y: number, color: number, alloc: Alloc<T> = allocBytes as Alloc<T>): T {
  checkU16(x, 'x'); checkU16(y, 'y'); checkColor(color)
  const out = alloc(PIXEL_BYTES)
  out[0] = Op.PIXEL
  putRecord(out, 1, x, y, color)
  return out
}

/** PIXELS from packed records (see writePixelRecord): 1 to 65535 whole records. */
export function encodePixels<T extends Uint8Array = Uint8Array> (records: Uint8Array, alloc: Alloc<T> = allocBytes as Alloc<T>): T {
  const count = records.length / PIXEL_RECORD_BYTES
  if (!Number.isInteger(count) || count < 1 || count > MAX_PIXELS_COUNT) {
    throw new RangeError(`PIXELS holds 1 to ${MAX_PIXELS_COUNT} whole ${PIXEL_RECORD_BYTES}-byte records, got ${records.length} bytes`)
  }
  const out = alloc(PIXELS_HEADER_BYTES + records.length)
  out[0] = Op.PIXELS
  writeU16(out, 1, count)
  out.set(records, PIXELS_HEADER_BYTES)
  return out
}

/** RECT: fill w×h from (x, y) with one colour. */
export function encodeRect<T extends Uint8Array = Uint8Array> (x: number, y: number, w: number, h: number, color: number, alloc: Alloc<T> = allocBytes as Alloc<T>): T {
  checkU16(x, 'x'); checkU16(y, 'y'); checkU16(w, 'w'); checkU16(h, 'h'); checkColor(color)
  const out = alloc(RECT_BYTES)
  out[0] = Op.RECT
  writeU16(out, 1, x)
  writeU16(out, 3, y)
  writeU16(out, 5, w)
  writeU16(out, 7, h)
  out[9] = color >>> 16
  out[10] = (color >>> 8) & 0xff
  out[11] = color & 0xff
  return out
}

/** CURSOR: where this client points. */
export function encodeCursor<T extends Uint8Array = Uint8Array> (x: number, y: number, alloc: Alloc<T> = allocBytes as Alloc<T>): T {
  checkU16(x, 'x'); checkU16(y, 'y')
  const out = alloc(CURSOR_BYTES)
  out[0] = Op.CURSOR
  writeU16(out, 1, x)
  writeU16(out, 3, y)
  return out
}

// Decoder (the server's side)

// Module-local copies of the sizes: V8 folds these into the decoder's code,
// while each use of an imported binding is a load (bench/codec.ts measured
// ~5% on a PIXEL). Same values, one source.
const PIXEL_LEN = PIXEL_BYTES
const PIXELS_HEAD = PIXELS_HEADER_BYTES
const RECORD = PIXEL_RECORD_BYTES
const RECT_LEN = RECT_BYTES
const CURSOR_LEN = CURSOR_BYTES

function outOfBounds (x: number, y: number, bounds: Bounds): string {
  return `(${x},${y}) is outside the ${bounds.width}x${bounds.height} canvas`
}

/**
 * Decode one binary client message against a canvas's bounds. PIXEL(S)
 * records are a view into `buf` (a Buffer stays a Buffer). Never throws.
 */
export function decodeClientBinary (buf: Uint8Array, bounds: Bounds): Decoded<DrawOp> {
  if (buf.length === 0) return decodeFailure('BAD_MESSAGE', 'empty binary message')
  const op = buf[0]
  switch (op) {
    case Op.PIXEL: {
      if (buf.length !== PIXEL_LEN) return decodeFailure('BAD_MESSAGE', `PIXEL must be ${PIXEL_LEN} bytes, got ${buf.length}`)
      const x = readU16(buf, 1)
      const y = readU16(buf, 3)
      if (x >= bounds.width || y >= bounds.height) return decodeFailure('OUT_OF_BOUNDS', `PIXEL ${outOfBounds(x, y, bounds)}`)
      return { ok: true, value: { kind: 'pixels', records: buf.subarray(1, PIXEL_LEN) } }
    }
    case Op.PIXELS: {
      if (buf.length < PIXELS_HEAD) {
        return decodeFailure('BAD_MESSAGE', `PIXELS needs at least ${PIXELS_HEAD} bytes (op and count), got ${buf.length}`)
      }
      const count = readU16(buf, 1)
      if (count === 0) return decodeFailure('BAD_MESSAGE', 'PIXELS count must be at least 1, got 0')
      if (count > bounds.maxStrokePixels) {
        return decodeFailure('TOO_LARGE', `PIXELS count ${count} exceeds the maximum stroke of ${bounds.maxStrokePixels} pixels`)
      }
      const expected = PIXELS_HEAD + RECORD * count
      if (buf.length !== expected) {
        return decodeFailure('BAD_MESSAGE', `PIXELS with count ${count} must be ${expected} bytes, got ${buf.length}`)
      }
      // The hot loop of every stroke: compare only; the message is built for a failure.
      const { width, height } = bounds
      for (let off = PIXELS_HEAD; off < expected; off += RECORD) {
        const x = readU16(buf, off)
        const y = readU16(buf, off + 2)
        if (x >= width || y >= height) {
          return decodeFailure('OUT_OF_BOUNDS', `PIXELS record ${(off - PIXELS_HEAD) / RECORD} ${outOfBounds(x, y, bounds)}`)
        }
      }
      return { ok: true, value: { kind: 'pixels', records: buf.subarray(PIXELS_HEAD) } }
    }
    case Op.RECT: {
      if (buf.length !== RECT_LEN) return decodeFailure('BAD_MESSAGE', `RECT must be ${RECT_LEN} bytes, got ${buf.length}`)
      const x = readU16(buf, 1)
      const y = readU16(buf, 3)
      const w = readU16(buf, 5)
      const h = readU16(buf, 7)
      if (w === 0 || h === 0) return decodeFailure('BAD_MESSAGE', `RECT must have a non-zero size, got ${w}x${h}`)
      if (x + w > bounds.width || y + h > bounds.height) {
        return decodeFailure('OUT_OF_BOUNDS', `RECT ${w}x${h} at (${x},${y}) extends past the ${bounds.width}x${bounds.height} canvas`)
      }
      if (w * h > bounds.maxRectPixels) {
        return decodeFailure('TOO_LARGE', `RECT of ${w * h} pixels exceeds the maximum of ${bounds.maxRectPixels}`)
      }
      return { ok: true, value: { kind: 'rect', x, y, w, h, color: readRgb(buf, 9) } }
    }
    case Op.CURSOR: {
      if (buf.length !== CURSOR_LEN) return decodeFailure('BAD_MESSAGE', `CURSOR must be ${CURSOR_LEN} bytes, got ${buf.length}`)
      const x = readU16(buf, 1)
      const y = readU16(buf, 3)
      if (x >= bounds.width || y >= bounds.height) return decodeFailure('OUT_OF_BOUNDS', `CURSOR ${outOfBounds(x, y, bounds)}`)
      return { ok: true, value: { kind: 'cursor', x, y } }
    }
    default:
      return decodeFailure('BAD_MESSAGE', `unknown binary op ${hexOp(op)}`)
  }
}

/** Pixels an op paints (what rate limiting counts): records for PIXEL(S), w·h for RECT, 0 for CURSOR. */
export function pixelCount (op: DrawOp): number {
  switch (op.kind) {
    case 'pixels': return Math.floor(op.records.length / PIXEL_RECORD_BYTES)
    case 'rect': return op.w * op.h
    case 'cursor': return 0
  }
}

/**
 * Pixels a draw message claims, read from its header alone (for counting a
 * refused one): 1 for PIXEL, the count of PIXELS, w·h of RECT, else 0.
 */
export function claimedPixels (buf: Uint8Array): number {
  switch (buf[0]) {
    case Op.PIXEL: return 1
    case Op.PIXELS: return buf.length >= PIXELS_HEADER_BYTES ? readU16(buf, 1) : 0
    case Op.RECT: return buf.length >= 9 ? readU16(buf, 5) * readU16(buf, 7) : 0
    default: return 0
  }
}
