// What every baseline shares: JWT auth (the same tokens as pixelwire), the
// canvas kept in memory, and a raw snapshot for a client that asks for one
// (join storm), or a deflated one as pixelwire sends it (baseline (d), on
// every join). A baseline prints `listening <port>` once it listens on
// 127.0.0.1 and exits on SIGTERM.
import { deflateSync } from 'node:zlib'
import { createVerifier } from 'fast-jwt'

const secret = process.env.JWT_SECRET ?? ''
if (secret.length < 32) throw new Error('JWT_SECRET (>= 32 chars) is required')
const verifier = createVerifier({ key: secret, algorithms: ['HS256'] })

/** The JWT's claims, or null when it is missing or invalid. */
export function verify (token: string | undefined): { sub: string, role?: string } | null {
  if (token === undefined || token === '') return null
  try {
    return verifier(token) as { sub: string, role?: string }
  } catch {
    return null
  }
}

export const bearer = (header: string | undefined) => header?.startsWith('Bearer ') === true ? header.slice(7) : undefined

export const WIDTH = 1024
export const HEIGHT = 1024
const pixels = Buffer.alloc(WIDTH * HEIGHT * 3, 0xff)
let seq = 0

/** Apply one 7-byte record (x u16, y u16, r, g, b) at m[o] to the canvas; false (and nothing applied) when out of bounds. */
export function applyRecord (m: Buffer, o: number): boolean {
  const x = m.readUInt16BE(o)
  const y = m.readUInt16BE(o + 2)
  if (x >= WIDTH || y >= HEIGHT) return false
  const p = (y * WIDTH + x) * 3
  pixels[p] = m[o + 4]; pixels[p + 1] = m[o + 5]; pixels[p + 2] = m[o + 6]
  seq++
  return true
}

/** Apply the record of a PIXEL (8 bytes) message to the canvas. */
export function applyPixel (m: Buffer): void { applyRecord(m, 1) }

/** The canvas seq: one per applied pixel, as pixelwire counts it. */
export const canvasSeq = () => seq

/** SNAPSHOT header: op, seq u64, width u16, height u16, encoding u8. */
function snapshotHead (encoding: 0 | 1): Buffer {
  const head = Buffer.alloc(14)
  head[0] = 0x10
  head.writeBigUInt64BE(BigInt(seq), 1)
  head.writeUInt16BE(WIDTH, 9)
  head.writeUInt16BE(HEIGHT, 11)
  head[13] = encoding
  return head
}

/** The canvas as pixelwire's SNAPSHOT layout, raw RGB (encoding 0): what a typical server sends on connect. */
export function snapshotFrame (): Buffer {
  return Buffer.concat([snapshotHead(0), pixels])
}

let deflated: { seq: number, frame: Buffer } | null = null
/** The same SNAPSHOT zlib-deflated (encoding 1), as pixelwire sends it; built once per seq. */
export function deflatedSnapshotFrame (): Buffer {
  if (deflated?.seq !== seq) {
    deflated = { seq, frame: Buffer.concat([snapshotHead(1), deflateSync(pixels)]) }
  }
  return deflated.frame
}

export const port = Number(process.env.PORT ?? 0)
export function listening (p: number): void {
  console.log(`listening ${p}`)
  process.once('SIGTERM', () => process.exit(0))
}
