// A bot: paints a small PNG onto a canvas through pixelwire/client, at the
// pace of its pixel budget (no RATE_LIMITED), and exits 0 once the server
// has confirmed every pixel committed (the commit barrier), 1 otherwise.
//
//   JWT_SECRET=... node --import tsx bot.ts picture.png LEFT TOP [ws://127.0.0.1:3000/ws]
//
// (in this repository: node --conditions=pixelwire-source --import tsx docs/examples/bot.ts ...,
// which resolves pixelwire/client to the sources; installed, it resolves to dist/)
//
// PNG: 8-bit RGB or RGBA, not interlaced; fully transparent pixels are skipped.
import { readFileSync } from 'node:fs'
import { inflateSync } from 'node:zlib'
import { createSigner } from 'fast-jwt'
import WebSocket from 'ws'
import { PixelwireClient } from 'pixelwire/client'

const [file, left = '0', top = '0', url = 'ws://127.0.0.1:3000/ws'] = process.argv.slice(2)
const secret = process.env.JWT_SECRET
if (file === undefined || secret === undefined) {
  console.error('usage: JWT_SECRET=... bot.ts picture.png LEFT TOP [ws-url]')
  process.exit(2)
}

// A painter token for ten minutes; the client asks for a new one before it expires.
const sign = createSigner({ key: secret, algorithm: 'HS256', expiresIn: 10 * 60_000 })
const client = new PixelwireClient({
  url,
  canvas: process.env.CANVAS ?? 'main',
  WebSocket, // Node 20 has no global WebSocket
  auth: 'header',
  getToken: () => sign({ sub: 'bot:png', name: 'PNG bot', role: 'painter' })
})
client.on('state', (state, d) => console.error(`bot: ${state}${d.code === undefined ? '' : ` (close ${d.code})`}`))
await client.connect()

const png = readPng(readFileSync(file))
const x0 = Number(left)
const y0 = Number(top)
const rows: Array<Promise<unknown>> = []
for (let y = 0; y < png.height; y++) {
  const row: Array<{ x: number, y: number, color: number }> = []
  for (let x = 0; x < png.width; x++) {
    const { color, opaque } = png.at(x, y)
    // Pixels already in their colour are not painted again (a rerun costs no budget).
    const inside = x0 + x < client.canvas.width && y0 + y < client.canvas.height // outside: the server refuses it
    if (opaque && (!inside || client.canvas.pixel(x0 + x, y0 + y) !== color)) row.push({ x: x0 + x, y: y0 + y, color })
  }
  if (row.length > 0) rows.push(client.drawPixels(row)) // the client splits rows to the budget and waits for it
}
const results = await Promise.allSettled(rows)
const failed = results.filter((r) => r.status === 'rejected')
for (const r of failed) console.error(`bot: ${(r as PromiseRejectedResult).reason}`)
console.error(`bot: ${rows.length - failed.length} of ${rows.length} rows confirmed at seq ${client.canvas.seq}`)
client.close()
process.exit(failed.length === 0 ? 0 : 1)

/** The pixels of an 8-bit, non-interlaced RGB (2) or RGBA (6) PNG. */
function readPng (buf: Buffer) {
  let off = 8
  let width = 0
  let height = 0
  let channels = 0
  const idat: Buffer[] = []
  while (off < buf.length) {
    const len = buf.readUInt32BE(off)
    const type = buf.toString('latin1', off + 4, off + 8)
    const data = buf.subarray(off + 8, off + 8 + len)
    if (type === 'IHDR') {
      width = data.readUInt32BE(0)
      height = data.readUInt32BE(4)
      channels = data[9] === 2 ? 3 : data[9] === 6 ? 4 : 0
      if (data[8] !== 8 || channels === 0 || data[12] !== 0) throw new Error('only 8-bit RGB or RGBA PNGs without interlacing')
    } else if (type === 'IDAT') idat.push(data)
    off += 12 + len
  }
  const raw = inflateSync(Buffer.concat(idat))
  const stride = width * channels
  const px = Buffer.alloc(stride * height)
  for (let y = 0; y < height; y++) {
    const filter = raw[y * (stride + 1)]
    for (let i = 0; i < stride; i++) {
      const a = i >= channels ? px[y * stride + i - channels] : 0
      const b = y > 0 ? px[(y - 1) * stride + i] : 0
      const c = i >= channels && y > 0 ? px[(y - 1) * stride + i - channels] : 0
      const p = a + b - c
      const pred = [0, a, b, (a + b) >> 1, Math.abs(p - a) <= Math.abs(p - b) && Math.abs(p - a) <= Math.abs(p - c) ? a : Math.abs(p - b) <= Math.abs(p - c) ? b : c][filter]
      px[y * stride + i] = (raw[y * (stride + 1) + 1 + i] + pred) & 0xff
    }
  }
  return {
    width,
    height,
    at (x: number, y: number) {
      const o = (y * width + x) * channels
      return { color: (px[o] << 16) | (px[o + 1] << 8) | px[o + 2], opaque: channels === 3 || px[o + 3] > 0 }
    }
  }
}
