// A minimal PNG encoder for canvases: 8-bit truecolour (colour type 2), no
// interlace, every scanline with filter 0 (None). Pure functions; the only
// cost worth moving off the event loop, deflate, is async.
import { promisify } from 'node:util'
import { crc32, deflate } from 'node:zlib'

const deflateAsync = promisify(deflate)

export const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])
const BYTES_PER_PIXEL = 3
/** PNG allows 2^31-1 but a canvas side is a u16 in the protocol */
const MAX_SIDE = 65535

function checkSize (width: number, height: number, rgb: Uint8Array): void {
  for (const [name, v] of [['width', width], ['height', height]] as const) {
    if (!Number.isInteger(v) || v < 1 || v > MAX_SIDE) throw new RangeError(`PNG ${name} must be an integer 1..${MAX_SIDE}, got ${v}`)
  }
  if (rgb.length !== width * height * BYTES_PER_PIXEL) {
    throw new RangeError(`RGB buffer of ${rgb.length} bytes does not match ${width}x${height}`)
  }
}

/** Raw RGB rows → the filtered image data: each row prefixed by filter byte 0. */
export function pngScanlines (width: number, height: number, rgb: Uint8Array): Buffer {
  checkSize(width, height, rgb)
  const row = width * BYTES_PER_PIXEL
  const out = Buffer.allocUnsafe((row + 1) * height)
  for (let y = 0; y < height; y++) {
    const o = y * (row + 1)
    out[o] = 0
    out.set(rgb.subarray(y * row, (y + 1) * row), o + 1)
  }
  return out
}

/** One chunk: length u32, type, data, CRC-32 over type and data. */
export function pngChunk (type: string, data: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(12 + data.length)
  out.writeUInt32BE(data.length, 0)
  out.write(type, 4, 4, 'latin1')
  out.set(data, 8)
  out.writeUInt32BE(crc32(out.subarray(4, 8 + data.length)), 8 + data.length)
  return out
}

/** Signature, IHDR, one IDAT holding the zlib stream, IEND. */
export function pngFile (width: number, height: number, idat: Uint8Array): Buffer {
  const ihdr = Buffer.alloc(13)
  ihdr.writeUInt32BE(width, 0)
  ihdr.writeUInt32BE(height, 4)
  ihdr[8] = 8 // bit depth
  ihdr[9] = 2 // colour type: truecolour
  // compression 0 (deflate), filter method 0, interlace 0 (none): already zero
  return Buffer.concat([PNG_SIGNATURE, pngChunk('IHDR', ihdr), pngChunk('IDAT', idat), pngChunk('IEND', Buffer.alloc(0))])
}

/**
 * Encode raw RGB rows as a PNG. The rows are copied synchronously (the
 * caller may change `rgb` as soon as this returns); compression runs on
 * libuv's thread pool.
 */
export async function encodePng (width: number, height: number, rgb: Uint8Array): Promise<Buffer> {
  const scanlines = pngScanlines(width, height, rgb)
  return pngFile(width, height, await deflateAsync(scanlines))
}

/** What the cache needs of a canvas: committed pixels at (epoch, seq). */
export interface PngSource {
  readonly id: string
  readonly epoch: string
  readonly seq: number
  readonly width: number
  readonly height: number
  readonly pixels: Uint8Array
}

export interface PngEntry { readonly epoch: string, readonly seq: number, readonly png: Promise<Buffer> }

/**
 * The last PNG of each canvas, encoded at most once per (epoch, seq). While
 * an encode runs, requests share it even if the canvas moved on (its ETag
 * names the seq it shows), so a busy canvas has one compression in flight,
 * not one per tick. Bounded: one entry per canvas.
 */
export function createPngCache (encode: typeof encodePng = encodePng) {
  const entries = new Map<string, PngEntry & { done: boolean }>()
  let encodes = 0

  function get (src: PngSource): PngEntry {
    const cached = entries.get(src.id)
    if (cached !== undefined && cached.epoch === src.epoch && (cached.seq === src.seq || !cached.done)) return cached
    encodes++
    const entry = { epoch: src.epoch, seq: src.seq, done: false, png: encode(src.width, src.height, src.pixels) }
    entry.png.then(() => { entry.done = true }, () => {
      if (entries.get(src.id) === entry) entries.delete(src.id) // the next request tries again
    })
    entries.set(src.id, entry)
    return entry
  }

  return {
    get,
    delete: (id: string) => entries.delete(id),
    get size () { return entries.size },
    /** encodes started so far (tests, metrics) */
    get encodes () { return encodes }
  }
}

export type PngCache = ReturnType<typeof createPngCache>

/** The zlib stream of one image's rows (an IDAT's or fdAT's content), compressed on libuv's thread pool. */
export async function pngImageData (width: number, height: number, rgb: Uint8Array): Promise<Buffer> {
  return deflateAsync(pngScanlines(width, height, rgb))
}

/**
 * An animated PNG (APNG, https://wiki.mozilla.org/APNG_Specification) of
 * full-size frames, each the zlib stream of pngImageData, shown `delayMs`
 * each and looped forever. Browsers that know APNG play it; others show the
 * first frame (the default image, the IDAT).
 */
export function apngFile (width: number, height: number, frames: readonly Uint8Array[], delayMs: number): Buffer {
  if (frames.length === 0) throw new RangeError('an APNG needs at least one frame')
  const ihdr = Buffer.alloc(13)
  ihdr.writeUInt32BE(width, 0)
  ihdr.writeUInt32BE(height, 4)
  ihdr[8] = 8 // bit depth
  ihdr[9] = 2 // colour type: truecolour
  const actl = Buffer.alloc(8)
  actl.writeUInt32BE(frames.length, 0) // num_frames
  actl.writeUInt32BE(0, 4) // num_plays: 0 = forever
  const chunks = [PNG_SIGNATURE, pngChunk('IHDR', ihdr), pngChunk('acTL', actl)]
  // fcTL and fdAT share one sequence, starting at 0.
  let sequence = 0
  frames.forEach((data, i) => {
    const fctl = Buffer.alloc(26)
    fctl.writeUInt32BE(sequence++, 0)
    fctl.writeUInt32BE(width, 4)
    fctl.writeUInt32BE(height, 8)
    // x, y offsets 0; delay as delayMs / 1000; dispose 0 (none), blend 0 (source): already zero
    fctl.writeUInt16BE(Math.min(65535, Math.max(0, Math.round(delayMs))), 20)
    fctl.writeUInt16BE(1000, 22)
    chunks.push(pngChunk('fcTL', fctl))
    if (i === 0) {
      chunks.push(pngChunk('IDAT', data))
    } else {
      const fdat = Buffer.allocUnsafe(4 + data.length)
      fdat.writeUInt32BE(sequence++, 0)
      fdat.set(data, 4)
      chunks.push(pngChunk('fdAT', fdat))
    }
  })
  chunks.push(pngChunk('IEND', Buffer.alloc(0)))
  return Buffer.concat(chunks)
}
