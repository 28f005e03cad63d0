// A room's snapshot: the canvas deflated once per seq, for every joiner and
// for the stored snapshots that bound boot time.
import { promisify } from 'node:util'
import { deflate } from 'node:zlib'
import { encodeSnapshot } from '../protocol/codec.js'
import type { Canvas } from './canvas.js'

const deflateAsync = promisify(deflate)

export interface SnapshotEntry { seq: number, deflated: Buffer, frame: Buffer }

export class SnapshotCache {
  private readonly canvas: Canvas
  /** one compression at a time; the newest result is kept */
  private entry: { seq: number, done: boolean, promise: Promise<SnapshotEntry> } | null = null

  constructor (canvas: Canvas) { this.canvas = canvas }

  /**
   * Forget the cached (or running) compression: after a reset the seq may
   * be the same but the picture is not. Whoever awaits the old one still
   * gets it (and must check the epoch it asked under).
   */
  invalidate (): void { this.entry = null }

  /**
   * The snapshot at the canvas's seq. While a compression is running,
   * joiners share it even if seq moved on: their catch-up replays the
   * difference from the log.
   */
  get (): Promise<SnapshotEntry> {
    const canvas = this.canvas
    const cached = this.entry
    if (cached !== null && (cached.seq === canvas.seq || !cached.done)) return cached.promise
    const seq = canvas.seq
    const copy = Buffer.from(canvas.pixels)
    const entry = {
      seq,
      done: false,
      promise: deflateAsync(copy).then((deflated) => ({
        seq,
        deflated,
        frame: encodeSnapshot(seq, canvas.width, canvas.height, 1, deflated)
      }))
    }
    entry.promise.then(() => { entry.done = true }, () => {
      if (this.entry === entry) this.entry = null
    })
    this.entry = entry
    return entry.promise
  }
}
