// The client's copy of a canvas: RGB rows, and the seq and epoch they are
// at. Its state is always "SNAPSHOT, then every UPDATES in order" (contract
// §4), so `seq` is what a reconnect resumes from. In the client's
// low-level mode (onUpdatesFrame) it holds no picture: only size, seq and
// epoch (`rgb` stays empty and pixel() throws).
import { PIXEL_RECORD_BYTES, SnapshotEncoding, readRgb, readU16, type SnapshotFrame } from '../protocol/wire.js'

export class LocalCanvas {
  width = 0
  height = 0
  /** width × height × 3 bytes, row-major; white until the first SNAPSHOT */
  rgb: Uint8Array = new Uint8Array(0)
  /** the canvas seq after the last change applied; -1 before the first SNAPSHOT */
  seq = -1
  /** the epoch `seq` belongs to; null before the first hello */
  epoch: string | null = null

  /** 0xRRGGBB at (x, y). Throws RangeError outside the canvas, Error when no picture is kept (low-level mode). */
  pixel (x: number, y: number): number {
    if (this.rgb.length !== this.width * this.height * 3) throw new Error('no picture is kept here (the client\'s low-level mode)')
    if (!Number.isInteger(x) || !Number.isInteger(y) || x < 0 || y < 0 || x >= this.width || y >= this.height) {
      throw new RangeError(`(${x},${y}) is outside the ${this.width}x${this.height} canvas`)
    }
    return readRgb(this.rgb, (y * this.width + x) * 3)
  }

  /** Replace the picture with a SNAPSHOT's RGB rows (already inflated). */
  applySnapshot (seq: number, width: number, height: number, rows: Uint8Array): void {
    if (rows.length !== width * height * 3) throw new Error(`SNAPSHOT of ${width}x${height} must hold ${width * height * 3} bytes, got ${rows.length}`)
    this.width = width
    this.height = height
    this.rgb = rows.slice() // a copy: the frame's buffer is not ours to keep
    this.seq = seq
  }

  /** Where a SNAPSHOT stands, without its picture (low-level mode). */
  applySnapshotHeader (seq: number, width: number, height: number): void {
    this.width = width
    this.height = height
    this.rgb = new Uint8Array(0)
    this.seq = seq
  }

  /**
   * Apply UPDATES records in order. A record outside the canvas cannot come
   * from the server; it is skipped rather than written out of bounds.
   */
  applyUpdates (seq: number, records: Uint8Array): void {
    const { width, height, rgb } = this
    for (let off = 0; off + PIXEL_RECORD_BYTES <= records.length; off += PIXEL_RECORD_BYTES) {
      const x = readU16(records, off)
      const y = readU16(records, off + 2)
      if (x >= width || y >= height) continue
      const i = (y * width + x) * 3
      rgb[i] = records[off + 4]
      rgb[i + 1] = records[off + 5]
      rgb[i + 2] = records[off + 6]
    }
    this.seq = seq
  }
}

/**
 * A SNAPSHOT's RGB rows: the payload as is, or inflated with
 * DecompressionStream('deflate') (zlib format), which browsers and Node ≥ 18
 * both have, so no Node-only module is needed.
 */
export async function snapshotRows (frame: SnapshotFrame): Promise<Uint8Array> {
  if (frame.encoding === SnapshotEncoding.RAW) return frame.payload
  const stream = new Blob([frame.payload as Uint8Array<ArrayBuffer>]).stream().pipeThrough(new DecompressionStream('deflate'))
  return new Uint8Array(await new Response(stream).arrayBuffer())
}
