// The PNG encoder, checked by an independent decoder: chunk layout, CRCs
// (with a table-driven CRC-32, not the one the encoder uses), IHDR fields,
// filter bytes and every pixel.
import { randomBytes } from 'node:crypto'
import { inflateSync } from 'node:zlib'
import t from 'tap'
import { createPngCache, encodePng, pngChunk, pngFile, pngScanlines, PNG_SIGNATURE } from '../../src/png.js'

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1
  return c >>> 0
})
function crc (buf: Buffer): number {
  let c = 0xffffffff
  for (const b of buf) c = CRC_TABLE[(c ^ b) & 0xff] ^ (c >>> 8)
  return (c ^ 0xffffffff) >>> 0
}

interface Chunk { type: string, data: Buffer, crcOk: boolean }

function chunks (png: Buffer): Chunk[] {
  const out: Chunk[] = []
  let off = 8
  while (off < png.length) {
    const len = png.readUInt32BE(off)
    const body = png.subarray(off + 4, off + 8 + len)
    out.push({ type: body.subarray(0, 4).toString('latin1'), data: body.subarray(4), crcOk: png.readUInt32BE(off + 8 + len) === crc(body) })
    off += 12 + len
  }
  if (off !== png.length) throw new Error('trailing bytes')
  return out
}

function decode (png: Buffer): { width: number, height: number, rgb: Buffer, filters: number[], chunks: Chunk[] } {
  if (!png.subarray(0, 8).equals(Buffer.from('89504e470d0a1a0a', 'hex'))) throw new Error('bad signature')
  const cs = chunks(png)
  const ihdr = cs[0].data
  const width = ihdr.readUInt32BE(0)
  const height = ihdr.readUInt32BE(4)
  const raw = inflateSync(Buffer.concat(cs.filter((c) => c.type === 'IDAT').map((c) => c.data)))
  const row = width * 3
  if (raw.length !== (row + 1) * height) throw new Error(`inflated ${raw.length} bytes`)
  const filters: number[] = []
  const rgb = Buffer.alloc(row * height)
  for (let y = 0; y < height; y++) {
    filters.push(raw[y * (row + 1)])
    raw.copy(rgb, y * row, y * (row + 1) + 1, (y + 1) * (row + 1))
  }
  return { width, height, rgb, filters, chunks: cs }
}

t.test('encodes RGB rows that decode back exactly', async (t) => {
  for (const [w, h] of [[1, 1], [3, 2], [7, 5], [64, 33]]) {
    const rgb = randomBytes(w * h * 3)
    const png = await encodePng(w, h, rgb)
    const d = decode(png)
    t.same(d.chunks.map((c) => c.type), ['IHDR', 'IDAT', 'IEND'], `${w}x${h}: chunk order`)
    t.ok(d.chunks.every((c) => c.crcOk), `${w}x${h}: every CRC is right`)
    t.same([...d.chunks[0].data], [0, 0, 0, w, 0, 0, 0, h, 8, 2, 0, 0, 0], `${w}x${h}: IHDR is 8-bit truecolour, no interlace`)
    t.equal(d.chunks[2].data.length, 0, 'IEND is empty')
    t.same(d.filters, new Array(h).fill(0), `${w}x${h}: every scanline has filter 0`)
    t.ok(d.rgb.equals(rgb), `${w}x${h}: pixels round-trip`)
  }
})

t.test('a white canvas, byte for byte', async (t) => {
  const png = await encodePng(2, 1, Buffer.alloc(6, 0xff))
  t.ok(png.subarray(0, 8).equals(PNG_SIGNATURE))
  // IHDR is fixed: length 13, "IHDR", fields, and the well-known CRC of this header
  const ihdr = Buffer.from('49484452' + '00000002' + '00000001' + '0802000000', 'hex')
  t.equal(png.subarray(8, 33).toString('hex'), '0000000d' + ihdr.toString('hex') + crc(ihdr).toString(16).padStart(8, '0'), 'IHDR')
  t.same(decode(png).rgb, Buffer.alloc(6, 0xff))
  t.equal(png.subarray(-12).toString('hex'), '0000000049454e44ae426082', 'IEND with its constant CRC')
})

t.test('the input may change as soon as encodePng returns', async (t) => {
  const rgb = Buffer.alloc(4 * 4 * 3, 0x11)
  const pending = encodePng(4, 4, rgb)
  rgb.fill(0x99)
  const d = decode(await pending)
  t.ok(d.rgb.equals(Buffer.alloc(48, 0x11)), 'the rows were copied before compressing')
})

t.test('building blocks', async (t) => {
  t.same([...pngScanlines(2, 2, Buffer.from([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]))], [0, 1, 2, 3, 4, 5, 6, 0, 7, 8, 9, 10, 11, 12])
  const c = pngChunk('tEXt', Buffer.from('a'))
  t.equal(c.readUInt32BE(0), 1)
  t.equal(c.readUInt32BE(9), crc(Buffer.from('tEXta')))
  t.equal(pngFile(1, 1, Buffer.alloc(0)).length, 8 + 25 + 12 + 12)
})

t.test('refuses sizes it cannot represent', async (t) => {
  t.throws(() => pngScanlines(0, 1, Buffer.alloc(0)), RangeError)
  t.throws(() => pngScanlines(65536, 1, Buffer.alloc(65536 * 3)), RangeError)
  t.throws(() => pngScanlines(1.5, 2, Buffer.alloc(9)), RangeError)
  t.throws(() => pngScanlines(2, 2, Buffer.alloc(11)), /does not match 2x2/)
  await t.rejects(encodePng(2, 2, Buffer.alloc(13)), RangeError)
})

t.test('createPngCache: once per (epoch, seq), one entry per canvas, shared while running', async (t) => {
  let calls = 0
  const encode = async (w: number, h: number, rgb: Uint8Array) => { calls++; return encodePng(w, h, rgb) }
  const cache = createPngCache(encode)
  const src = { id: 'a', epoch: 'e1', seq: 0, width: 2, height: 2, pixels: Buffer.alloc(12, 0xff) }
  const first = cache.get(src)
  t.equal(cache.get(src), first, 'same seq: same entry')
  // seq moved on while the first encode runs: share it, it names its own seq
  const running = cache.get({ ...src, seq: 1 })
  t.equal(running, first)
  t.equal(running.seq, 0)
  await first.png
  t.equal(calls, 1)
  const second = cache.get({ ...src, seq: 1, pixels: Buffer.alloc(12, 0) })
  t.not(second, first, 'done and stale: encode again')
  t.equal(second.seq, 1)
  t.ok(decode(await second.png).rgb.equals(Buffer.alloc(12, 0)))
  t.equal(cache.get({ ...src, seq: 1 }), second)
  const reset = cache.get({ ...src, epoch: 'e2', seq: 1 })
  t.not(reset, second, 'a new epoch is a new image even at the same seq')
  cache.get({ ...src, id: 'b' })
  t.equal(cache.size, 2, 'one entry per canvas')
  t.equal(cache.encodes, 4)
  t.equal(calls, 4)
  t.ok(cache.delete('b'))
  t.equal(cache.size, 1)
})

t.test('createPngCache: a failed encode is retried by the next request', async (t) => {
  let fail = true
  const cache = createPngCache(async (w, h, rgb) => {
    if (fail) throw new Error('boom')
    return encodePng(w, h, rgb)
  })
  const src = { id: 'a', epoch: 'e', seq: 3, width: 1, height: 1, pixels: Buffer.alloc(3) }
  await t.rejects(cache.get(src).png, /boom/)
  t.equal(cache.size, 0, 'the failure is not cached')
  fail = false
  t.ok(decode(await cache.get(src).png).rgb.equals(Buffer.alloc(3)))
  t.equal(cache.encodes, 2)
})
