// What every baseline shares: JWT auth (the same tokens as pixelwire), the
// canvas kept in memory, and a raw snapshot for a client that asks for one
// (join storm), or a deflated one as pixelwire sends it (baseline (d), on
// every join). A baseline prints `listening <port>` once it listens on
// 127.0.0.1 and exits on SIGTERM.
import { deflateSync } from 'node:zlib'
import { createVerifier } from 'fast-jwt'
import { SnapshotEncoding, encodeSnapshot, readU16, type SnapshotEncodingValue } from '../../src/protocol/wire.js'

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
  const x = readU16(m, o)
  const y = readU16(m, o + 2)
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

/** A SNAPSHOT frame (pixelwire's layout) of the canvas at its seq. */
function snapshot (encoding: SnapshotEncodingValue, payload: Uint8Array): Buffer {
  return encodeSnapshot(seq, WIDTH, HEIGHT, encoding, payload, (size) => Buffer.allocUnsafe(size))
}

/** The canvas as pixelwire's SNAPSHOT layout, raw RGB (encoding 0): what a typical server sends on connect. */
export function snapshotFrame (): Buffer {
  return snapshot(SnapshotEncoding.RAW, pixels)
}

let deflated: { seq: number, frame: Buffer } | null = null
/** The same SNAPSHOT zlib-deflated (encoding 1), as pixelwire sends it; built once per seq. */
export function deflatedSnapshotFrame (): Buffer {
  if (deflated?.seq !== seq) {
    deflated = { seq, frame: snapshot(SnapshotEncoding.DEFLATE, deflateSync(pixels)) }
  }
  return deflated.frame
}

export const port = Number(process.env.PORT ?? 0)
export function listening (p: number): void {
  console.log(`listening ${p}`)
  process.once('SIGTERM', () => process.exit(0))
}
