// One canvas in memory: its committed pixels at `seq`. Accepted changes not
// yet committed wait in its intake (intake.ts) and are invisible here (not in
// `pixels`, not in any snapshot) until their batch is committed and applied
// by its room (room.ts), the only writer of `seq` and `pixels` after boot.
import { randomBytes } from 'node:crypto'
import { inflateSync } from 'node:zlib'
import type { CanvasId, CanvasRow } from '../persistence/canvas-store.js'
import { PIXEL_RECORD_BYTES as RECORD, readRgb } from '../protocol/wire.js'
import type { CanvasLog } from './canvas-log.js'

export const CANVAS_ID = /^[a-z0-9-]{1,32}$/

export function newEpoch (): string {
  return randomBytes(9).toString('base64url')
}

export function blankPixels (width: number, height: number): Buffer {
  return Buffer.alloc(width * height * 3, 0xff)
}

export class Canvas {
  readonly id: CanvasId
  readonly width: number
  readonly height: number
  /** changes only by a reset (resetTo), with seq and the pixels */
  epoch: string
  /** seq of the last change applied: the log's seq once the room caught up */
  seq: number
  /** seq the current epoch began at (0, or the seq of the last reset) */
  epochSeq: number
  /** non-admin draws are refused (FROZEN) */
  frozen: boolean
  /**
   * The only colours draws may use (BAD_COLOR), or null: any colour. The
   * draw path reads `palette !== null` and nothing else for a canvas
   * without one.
   */
  palette: ReadonlySet<number> | null
  /** seq of the newest snapshot stored in SQLite */
  storedSnapshotSeq: number
  /**
   * The log holds every change after this seq (0: all of them). Above 0
   * only on a cluster replica rebuilt from the cluster's snapshot: a resume
   * from before it gets a snapshot, never a replay with a hole.
   */
  logFloor = 0
  readonly pixels: Buffer

  constructor (row: CanvasRow, pixels: Buffer, storedSnapshotSeq = 0) {
    if (pixels.length !== row.width * row.height * 3) throw new Error(`canvas ${row.id}: pixel buffer has the wrong size`)
    this.id = row.id
    this.width = row.width
    this.height = row.height
    this.epoch = row.epoch
    this.seq = row.seq
    this.epochSeq = row.epochSeq ?? 0
    this.frozen = row.frozen ?? false
    this.palette = row.palette === undefined || row.palette === null ? null : new Set(row.palette)
    this.pixels = pixels
    this.storedSnapshotSeq = storedSnapshotSeq
  }

  /** A reset: blank pixels under a new epoch that starts at `seq` (its stored snapshot is the blank one). */
  resetTo (epoch: string, seq: number): void {
    this.pixels.fill(0xff)
    this.epoch = epoch
    this.seq = seq
    this.epochSeq = seq
    this.storedSnapshotSeq = seq
  }

  /** The first colour of `records` (packed 7-byte records) outside the palette, or null when all are in it (or there is no palette). */
  offPalette (records: Uint8Array): number | null {
    const palette = this.palette
    if (palette === null) return null
    for (let off = 4; off < records.length; off += RECORD) {
      const color = readRgb(records, off)
      if (!palette.has(color)) return color
    }
    return null
  }

  /** Paint committed records into the pixel buffer, in order (last writer wins). */
  apply (records: Uint8Array): void {
    const px = this.pixels
    for (let off = 0; off < records.length; off += RECORD) {
      const x = (records[off] << 8) | records[off + 1]
      const y = (records[off + 2] << 8) | records[off + 3]
      const p = (y * this.width + x) * 3
      px[p] = records[off + 4]
      px[p + 1] = records[off + 5]
      px[p + 2] = records[off + 6]
    }
  }

  colorAt (x: number, y: number): number {
    const p = (y * this.width + x) * 3
    return readRgb(this.pixels, p)
  }
}

/**
 * A canvas at boot: its newest stored snapshot, then the log after it (in
 * chunks of `chunk` changes), so boot cost is bounded by SNAPSHOT_EVERY.
 */
export function rebuildCanvas (row: CanvasRow, snap: { seq: number, pixels: Buffer } | undefined, log: Pick<CanvasLog, 'changesAfter'>, chunk: number): Canvas {
  const pixels = snap !== undefined ? inflateSync(snap.pixels) : blankPixels(row.width, row.height)
  const canvas = new Canvas({ ...row, seq: snap?.seq ?? 0 }, pixels, snap?.seq ?? 0)
  for (;;) {
    const records = log.changesAfter(row.id, canvas.seq, chunk)
    if (records.length === 0) break
    canvas.apply(records)
    canvas.seq += records.length / RECORD
  }
  if (canvas.seq !== row.seq) throw new Error(`canvas ${row.id}: log ends at seq ${canvas.seq}, canvases.seq is ${row.seq}`)
  return canvas
}
