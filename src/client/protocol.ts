// The binary frames of the wire contract (PROTOCOL.md §3, §4), for the
// browser: big-endian unsigned integers, colours packed 0xRRGGBB.

export const Op = { PIXEL: 0x00, PIXELS: 0x01, RECT: 0x02, CURSOR: 0x03, SNAPSHOT: 0x10, UPDATES: 0x11, CURSORS: 0x12 } as const
export const RECORD_BYTES = 7

export interface Limits {
  maxMessageBytes: number
  maxStrokePixels: number
  maxRectPixels: number
  pixelRate: number
  pixelBurst: number
  tickMs: number
}

export type Role = 'viewer' | 'painter' | 'admin'

export interface Hello {
  type: 'hello'
  connectionId: number
  user: { id: string, name: string, role: Role }
  canvas: { id: string, width: number, height: number, seq: number, epoch: string }
  resume: 'snapshot' | 'replay'
  limits: Limits
  heartbeatMs: number
}

export interface Presence { type: 'presence', canvas: string, joined: Array<{ connectionId: number, name: string }>, left: number[], count?: number }
export interface ServerError { type: 'error', code: string, message: string, retryAfterMs?: number }

/** A PIXELS op: `records` packed x u16, y u16, r, g, b. */
export function encodePixels (records: Uint8Array): Uint8Array {
  const count = records.length / RECORD_BYTES
  const out = new Uint8Array(3 + records.length)
  out[0] = Op.PIXELS
  out[1] = count >>> 8
  out[2] = count & 0xff
  out.set(records, 3)
  return out
}

export function encodeRect (x: number, y: number, w: number, h: number, color: number): Uint8Array {
  const out = new Uint8Array(12)
  const v = new DataView(out.buffer)
  v.setUint8(0, Op.RECT)
  v.setUint16(1, x)
  v.setUint16(3, y)
  v.setUint16(5, w)
  v.setUint16(7, h)
  out[9] = color >>> 16
  out[10] = (color >>> 8) & 0xff
  out[11] = color & 0xff
  return out
}

export function encodeCursor (x: number, y: number): Uint8Array {
  const out = new Uint8Array(5)
  const v = new DataView(out.buffer)
  v.setUint8(0, Op.CURSOR)
  v.setUint16(1, x)
  v.setUint16(3, y)
  return out
}

/** Append one record at `off` of `buf`. */
export function writeRecord (buf: Uint8Array, off: number, x: number, y: number, color: number): void {
  buf[off] = x >>> 8
  buf[off + 1] = x & 0xff
  buf[off + 2] = y >>> 8
  buf[off + 3] = y & 0xff
  buf[off + 4] = color >>> 16
  buf[off + 5] = (color >>> 8) & 0xff
  buf[off + 6] = color & 0xff
}

export interface Snapshot { seq: number, width: number, height: number, encoding: number, payload: Uint8Array }
export interface Updates { seq: number, count: number, records: Uint8Array }
export interface Cursor { connectionId: number, x: number, y: number }

export function decodeSnapshot (buf: ArrayBuffer): Snapshot | null {
  if (buf.byteLength < 14) return null
  const v = new DataView(buf)
  return {
    seq: Number(v.getBigUint64(1)),
    width: v.getUint16(9),
    height: v.getUint16(11),
    encoding: v.getUint8(13),
    payload: new Uint8Array(buf, 14)
  }
}

export function decodeUpdates (buf: ArrayBuffer): Updates | null {
  if (buf.byteLength < 13) return null
  const v = new DataView(buf)
  const count = v.getUint32(9)
  if (buf.byteLength !== 13 + count * RECORD_BYTES) return null
  return { seq: Number(v.getBigUint64(1)), count, records: new Uint8Array(buf, 13) }
}

export function decodeCursors (buf: ArrayBuffer): Cursor[] {
  if (buf.byteLength < 3) return []
  const v = new DataView(buf)
  const count = Math.min(v.getUint16(1), Math.floor((buf.byteLength - 3) / 8))
  const out: Cursor[] = []
  for (let i = 0, o = 3; i < count; i++, o += 8) out.push({ connectionId: v.getUint32(o), x: v.getUint16(o + 4), y: v.getUint16(o + 6) })
  return out
}

/** RGB rows of a SNAPSHOT payload, inflating encoding 1 (zlib) in the browser. */
export async function snapshotPixels (snap: Snapshot): Promise<Uint8Array> {
  if (snap.encoding === 0) return snap.payload
  if (snap.encoding !== 1) throw new Error(`unknown snapshot encoding ${snap.encoding}`)
  const stream = new Blob([snap.payload as Uint8Array<ArrayBuffer>]).stream().pipeThrough(new DecompressionStream('deflate'))
  return new Uint8Array(await new Response(stream).arrayBuffer())
}

export function hex (color: number): string {
  return '#' + color.toString(16).padStart(6, '0')
}

export function parseHex (s: string): number | null {
  const m = /^#?([0-9a-f]{6})$/i.exec(s.trim())
  return m === null ? null : parseInt(m[1], 16)
}
