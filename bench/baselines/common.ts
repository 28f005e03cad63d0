// What every baseline shares: JWT auth (the same tokens as pixelwire), the
// canvas kept in memory, and a raw snapshot for a client that asks for one
// (join storm). A baseline prints `listening <port>` once it listens on
// 127.0.0.1 and exits on SIGTERM.
import { createVerifier } from 'fast-jwt'

const secret = process.env.JWT_SECRET ?? ''
if (secret.length < 32) throw new Error('JWT_SECRET (>= 32 chars) is required')
const verifier = createVerifier({ key: secret, algorithms: ['HS256'] })

/** The JWT's claims, or null when it is missing or invalid. */
export function verify (token: string | undefined): { sub: string } | null {
  if (token === undefined || token === '') return null
  try {
    return verifier(token) as { sub: string }
  } catch {
    return null
  }
}

export const bearer = (header: string | undefined) => header?.startsWith('Bearer ') === true ? header.slice(7) : undefined

export const WIDTH = 1024
export const HEIGHT = 1024
const pixels = Buffer.alloc(WIDTH * HEIGHT * 3, 0xff)
let seq = 0

/** Apply the records of a PIXEL (8 bytes) message to the canvas. */
export function applyPixel (m: Buffer): void {
  const x = m.readUInt16BE(1)
  const y = m.readUInt16BE(3)
  if (x >= WIDTH || y >= HEIGHT) return
  const p = (y * WIDTH + x) * 3
  pixels[p] = m[5]; pixels[p + 1] = m[6]; pixels[p + 2] = m[7]
  seq++
}

/** The canvas as pixelwire's SNAPSHOT layout, raw RGB (encoding 0): what a typical server sends on connect. */
export function snapshotFrame (): Buffer {
  const head = Buffer.alloc(14)
  head[0] = 0x10
  head.writeBigUInt64BE(BigInt(seq), 1)
  head.writeUInt16BE(WIDTH, 9)
  head.writeUInt16BE(HEIGHT, 11)
  return Buffer.concat([head, pixels])
}

export const port = Number(process.env.PORT ?? 0)
export function listening (p: number): void {
  console.log(`listening ${p}`)
  process.once('SIGTERM', () => process.exit(0))
}
