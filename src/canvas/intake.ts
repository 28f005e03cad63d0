// A canvas's intake: accepted draws waiting for the next commit, in arrival
// order, with who drew each run of them. Bounded by MAX_PENDING_PIXELS: a
// draw that does not fit is refused whole (UNAVAILABLE), never cut.
import type { Authorship } from '../persistence/canvas-store.js'
import { PIXEL_RECORD_BYTES as RECORD } from '../protocol/wire.js'

export interface PendingRun extends Authorship { connId: number }

export interface Batch {
  records: Buffer
  runs: PendingRun[]
}

export class Intake {
  private pending: Buffer
  private pendingBytes = 0
  private runs: PendingRun[] = []
  private readonly maxPendingBytes: number

  constructor (maxPendingPixels: number) {
    this.maxPendingBytes = maxPendingPixels * RECORD
    this.pending = Buffer.allocUnsafe(Math.min(this.maxPendingBytes, 64 * 1024))
  }

  get count (): number { return this.pendingBytes / RECORD }

  /**
   * Queue packed records for the next commit. All or nothing: returns false
   * (queuing none) when the batch would exceed its bound.
   */
  enqueue (records: Uint8Array, user: string, connId: number, name?: string): boolean {
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
    if (last !== undefined && last.connId === connId && last.user === user && last.name === name) last.count += count
    else this.runs.push(name === undefined ? { user, connId, count } : { user, name, connId, count })
    return true
  }

  /**
   * Hand over (a copy of) the first `max` pending records, oldest first; the
   * rest stay pending, in order, for the next tick.
   */
  take (max = Infinity): Batch | null {
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
}
