// One canvas in memory: committed pixels at `seq`, plus the batch of accepted
// but not yet committed changes. Pending changes are invisible (not in
// `pixels`, not in any snapshot) until the tick commits them.
import { randomBytes } from 'node:crypto'
import type { Authorship, CanvasId, CanvasRow } from '../persistence/canvas-store.js'
import { PIXEL_RECORD_BYTES as RECORD, readRgb } from '../protocol/wire.js'

export interface PendingRun extends Authorship { connId: number }

export interface Batch {
  records: Buffer
  runs: PendingRun[]
}

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
  readonly epoch: string
  /** seq of the last committed change: canvases.seq in SQLite */
  seq: number
  /** seq of the newest snapshot stored in SQLite */
  storedSnapshotSeq: number
  readonly pixels: Buffer
  private pending: Buffer
  private pendingBytes = 0
  private runs: PendingRun[] = []
  private readonly maxPendingBytes: number

  constructor (row: CanvasRow, pixels: Buffer, maxPendingPixels: number, storedSnapshotSeq = 0) {
    if (pixels.length !== row.width * row.height * 3) throw new Error(`canvas ${row.id}: pixel buffer has the wrong size`)
    this.id = row.id
    this.width = row.width
    this.height = row.height
    this.epoch = row.epoch
    this.seq = row.seq
    this.pixels = pixels
    this.storedSnapshotSeq = storedSnapshotSeq
    this.maxPendingBytes = maxPendingPixels * RECORD
    this.pending = Buffer.allocUnsafe(Math.min(this.maxPendingBytes, 64 * 1024))
  }

  get pendingCount (): number { return this.pendingBytes / RECORD }

  /**
   * Queue packed records for the next commit. All or nothing: returns false
   * (queuing none) when the batch would exceed its bound.
   */
  enqueue (records: Uint8Array, user: string, connId: number): boolean {
    const need = this.pendingBytes + records.length
    if (need > this.maxPendingBytes) return false
    if (need > this.pending.length) {
      const grown = Buffer.allocUnsafe(Math.min(this.maxPendingBytes, Math.max(need, this.pending.length * 2)))
      this.pending.copy(grown, 0, 0, this.pendingBytes)
      this.pending = grown
    }
    this.pending.set(records, this.pendingBytes)
    this.pendingBytes = need
    const count = records.length / RECORD
    const last = this.runs[this.runs.length - 1]
    if (last !== undefined && last.connId === connId && last.user === user) last.count += count
    else this.runs.push({ user, connId, count })
    return true
  }

  /**
   * Hand over (a copy of) the first `max` pending records, oldest first; the
   * rest stay pending, in order, for the next tick.
   */
  takeBatch (max = Infinity): Batch | null {
    if (this.pendingBytes === 0) return null
    const count = Math.min(this.pendingBytes / RECORD, max)
    const bytes = count * RECORD
    const records = Buffer.from(this.pending.subarray(0, bytes))
    const runs: PendingRun[] = []
    let left = count
    while (left > 0) {
      const run = this.runs[0]
      if (run.count <= left) {
        runs.push(this.runs.shift() as PendingRun)
        left -= run.count
      } else {
        runs.push({ ...run, count: left })
        run.count -= left
        left = 0
      }
    }
    this.pending.copyWithin(0, bytes, this.pendingBytes)
    this.pendingBytes -= bytes
    return { records, runs }
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
