// Shared bits of the REST API tests (not a test file itself).
import { inflateSync } from 'node:zlib'
import { token } from '../../helper.js'

export const bearer = (claims: Record<string, unknown> = {}) => ({ authorization: `Bearer ${token(claims)}` })
export const asAdmin = bearer({ sub: 'root', name: 'Root', role: 'admin' })
export { isType, joinClient as join } from '../../helper.js'
/** An independent PNG reader: IHDR fields and the RGB rows (filter 0 only). */
export function readPng (png: Buffer): { width: number, height: number, depth: number, colorType: number, rgb: Buffer } {
  if (png.subarray(0, 8).toString('hex') !== '89504e470d0a1a0a') throw new Error('not a PNG')
  let off = 8
  let ihdr: Buffer | undefined
  const idat: Buffer[] = []
  while (off < png.length) {
    const len = png.readUInt32BE(off)
    const type = png.subarray(off + 4, off + 8).toString('latin1')
    const data = png.subarray(off + 8, off + 8 + len)
    if (type === 'IHDR') ihdr = data
    if (type === 'IDAT') idat.push(data)
    off += 12 + len
  }
  if (ihdr === undefined) throw new Error('no IHDR')
  const width = ihdr.readUInt32BE(0)
  const height = ihdr.readUInt32BE(4)
  const raw = inflateSync(Buffer.concat(idat))
  const rgb = Buffer.alloc(width * height * 3)
  for (let y = 0; y < height; y++) {
    const o = y * (width * 3 + 1)
    if (raw[o] !== 0) throw new Error(`row ${y} has filter ${raw[o]}`)
    raw.copy(rgb, y * width * 3, o + 1, o + 1 + width * 3)
  }
  return { width, height, depth: ihdr[8], colorType: ihdr[9], rgb }
}
