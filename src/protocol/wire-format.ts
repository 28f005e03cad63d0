// The vocabulary of the wire contract (PROTOCOL.md §1, §3, §4): op codes,
// frame sizes, the 7-byte pixel record, colours and roles. Part of the wire
// module (wire.ts): no Node-only types or imports, so the browser bundle and
// any client library share it with the server.
//
// Every binary integer is big-endian unsigned; a colour is a number 0xRRGGBB.
import { protocolError, type ProtocolError } from './errors.js'

export const Op = {
  PIXEL: 0x00,
  PIXELS: 0x01,
  RECT: 0x02,
  CURSOR: 0x03,
  SNAPSHOT: 0x10,
  UPDATES: 0x11,
  CURSORS: 0x12
} as const

export type OpCode = typeof Op[keyof typeof Op]

/** x u16, y u16, r, g, b: the record shared by PIXEL, PIXELS and UPDATES. */
export const PIXEL_RECORD_BYTES = 7
/** op, then one record */
export const PIXEL_BYTES = 1 + PIXEL_RECORD_BYTES
/** op, count u16; then count records */
export const PIXELS_HEADER_BYTES = 3
/** op, x, y, w, h u16, r, g, b */
export const RECT_BYTES = 12
/** op, x, y u16 */
export const CURSOR_BYTES = 5
/** op, seq u64, width u16, height u16, encoding u8; then the payload */
export const SNAPSHOT_HEADER_BYTES = 14
/** op, seq u64, count u32; then count records */
export const UPDATES_HEADER_BYTES = 13
/** op, count u16; then count entries */
export const CURSORS_HEADER_BYTES = 3
/** connectionId u32, x u16, y u16 */
export const CURSOR_ENTRY_BYTES = 8

export const MAX_U16 = 0xffff
export const MAX_U32 = 0xffffffff
/** the most records one PIXELS op can say (its count is a u16) */
export const MAX_PIXELS_COUNT = MAX_U16
/** the most entries one CURSORS frame can say */
export const MAX_CURSORS_COUNT = MAX_U16

/** SNAPSHOT payload encodings: raw RGB rows, or those rows zlib-deflated. */
export const SnapshotEncoding = { RAW: 0, DEFLATE: 1 } as const
export type SnapshotEncodingValue = typeof SnapshotEncoding[keyof typeof SnapshotEncoding]

/** JWT `role` values (§1); `painter` when a token has none. */
export const ROLES = ['viewer', 'painter', 'admin'] as const
export type Role = typeof ROLES[number]
export const DEFAULT_ROLE: Role = 'painter'

export function isRole (value: unknown): value is Role {
  return value === 'viewer' || value === 'painter' || value === 'admin'
}

/** Only painters and admins may draw (§3). */
export function canDraw (role: Role): boolean {
  return role === 'painter' || role === 'admin'
}

/** A decoder's answer: never an exception, always what was wrong. */
export type Decoded<T> = { ok: true, value: T } | { ok: false, error: ProtocolError }

/** "0x1f": an op byte for messages. */
export function hexOp (op: number): string {
  return '0x' + op.toString(16).padStart(2, '0')
}

export function decodeFailure (code: ProtocolError['code'], message: string): { ok: false, error: ProtocolError } {
  return { ok: false, error: protocolError(code, message) }
}

// Colours

export const MAX_COLOR = 0xffffff

export function isColor (color: number): boolean {
  return Number.isInteger(color) && color >= 0 && color <= MAX_COLOR
}

/** r, g, b bytes → 0xRRGGBB. Throws RangeError for a component outside 0..255. */
export function packRgb (r: number, g: number, b: number): number {
  checkByte(r, 'red'); checkByte(g, 'green'); checkByte(b, 'blue')
  return (r << 16) | (g << 8) | b
}

/** 0xRRGGBB → [r, g, b]. */
export function unpackRgb (color: number): [number, number, number] {
  return [(color >>> 16) & 0xff, (color >>> 8) & 0xff, color & 0xff]
}

/** 0xRRGGBB → "#rrggbb" (the REST API's and the page's form). */
export function toHexColor (color: number): string {
  return '#' + color.toString(16).padStart(6, '0')
}

/** "#rrggbb" (either case) → 0xRRGGBB, or null when it is not exactly that. */
export function parseHexColor (text: string): number | null {
  return /^#[0-9a-fA-F]{6}$/.test(text) ? Number.parseInt(text.slice(1), 16) : null
}

// Reads and writes. The fast ones do no checks: callers check lengths first.

export function readU16 (buf: Uint8Array, off: number): number {
  return (buf[off] << 8) | buf[off + 1]
}

export function readU32 (buf: Uint8Array, off: number): number {
  return ((buf[off] << 24) | (buf[off + 1] << 16) | (buf[off + 2] << 8) | buf[off + 3]) >>> 0
}

/** Three bytes r, g, b at `off` → 0xRRGGBB. */
export function readRgb (buf: Uint8Array, off: number): number {
  return (buf[off] << 16) | (buf[off + 1] << 8) | buf[off + 2]
}

/** A u64 as a number; -1 when it is beyond 2^53 - 1 (no seq gets there). */
export function readU64 (buf: Uint8Array, off: number): number {
  const hi = readU32(buf, off)
  if (hi > 0x1fffff) return -1
  return hi * 0x1_0000_0000 + readU32(buf, off + 4)
}

export function writeU16 (buf: Uint8Array, off: number, v: number): void {
  buf[off] = v >>> 8
  buf[off + 1] = v & 0xff
}

export function writeU32 (buf: Uint8Array, off: number, v: number): void {
  buf[off] = v >>> 24
  buf[off + 1] = (v >>> 16) & 0xff
  buf[off + 2] = (v >>> 8) & 0xff
  buf[off + 3] = v & 0xff
}

/** A seq (a safe integer) as u64. */
export function writeU64 (buf: Uint8Array, off: number, v: number): void {
  writeU32(buf, off, Math.floor(v / 0x1_0000_0000))
  writeU32(buf, off + 4, v >>> 0)
}

/** One record at `off`, unchecked (the caller checked x, y, colour). */
export function putRecord (buf: Uint8Array, off: number, x: number, y: number, color: number): void {
  buf[off] = x >>> 8
  buf[off + 1] = x & 0xff
  buf[off + 2] = y >>> 8
  buf[off + 3] = y & 0xff
  buf[off + 4] = color >>> 16
  buf[off + 5] = (color >>> 8) & 0xff
  buf[off + 6] = color & 0xff
}

/** Write one record at `offset`. Throws RangeError on x, y or colour out of range, or no room. */
export function writePixelRecord (buf: Uint8Array, offset: number, x: number, y: number, color: number): void {
  checkU16(x, 'x'); checkU16(y, 'y'); checkColor(color)
  if (!Number.isInteger(offset) || offset < 0 || offset + PIXEL_RECORD_BYTES > buf.length) {
    throw new RangeError(`no room for a pixel record at offset ${offset} of a ${buf.length}-byte buffer`)
  }
  putRecord(buf, offset, x, y, color)
}

/** Read one record at `offset`. Throws RangeError when it does not fit in `buf`. */
export function readPixelRecord (buf: Uint8Array, offset: number): { x: number, y: number, color: number } {
  if (!Number.isInteger(offset) || offset < 0 || offset + PIXEL_RECORD_BYTES > buf.length) {
    throw new RangeError(`no pixel record at offset ${offset} of a ${buf.length}-byte buffer`)
  }
  return { x: readU16(buf, offset), y: readU16(buf, offset + 2), color: readRgb(buf, offset + 4) }
}

// Argument checks of the encoders: a value that cannot be represented is a
// bug in the caller, never client input, so it throws.

export function checkU16 (v: number, what: string): void {
  if (!Number.isInteger(v) || v < 0 || v > MAX_U16) throw new RangeError(`${what} must be an integer 0..65535, got ${v}`)
}

export function checkU32 (v: number, what: string): void {
  if (!Number.isInteger(v) || v < 0 || v > MAX_U32) throw new RangeError(`${what} must be an integer 0..4294967295, got ${v}`)
}

export function checkSeq (seq: number): void {
  if (!Number.isSafeInteger(seq) || seq < 0) throw new RangeError(`seq must be a non-negative safe integer, got ${seq}`)
}

export function checkColor (color: number): void {
  if (!isColor(color)) throw new RangeError(`colour must be an integer 0..0xffffff, got ${color}`)
}

function checkByte (v: number, what: string): void {
  if (!Number.isInteger(v) || v < 0 || v > 0xff) throw new RangeError(`${what} must be an integer 0..255, got ${v}`)
}

/** How encoders get their bytes: `new Uint8Array` by default; the server passes a Buffer allocator. */
export type Alloc<T extends Uint8Array> = (size: number) => T

export const allocBytes: Alloc<Uint8Array> = (size) => new Uint8Array(size)
