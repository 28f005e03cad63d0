// A room's newest commits, kept in memory, and the UPDATES frames built from
// them: the slots of a stretched tick, and the laggards caught up in the same
// beat, are sent out of here without a log read, one frame per starting seq
// shared by every client at that seq (encoded and framed once).
import { encodeUpdates } from '../protocol/codec.js'
import { SharedFrame } from '../connection/connection.js'
import { PIXEL_RECORD_BYTES as RECORD } from '../protocol/wire.js'

/** Frames kept for the current seq, by the seq they start from (see frameFrom). */
const FRAME_CACHE_MAX = 16

export class RecentCommits {
  /** the commits held cover the changes (start, end] */
  private start = 0
  private end = -1
  private parts: Buffer[] = []
  private records = 0
  /** frames from `seq`'s recent commits, by the seq they start from */
  private frames = new Map<number, SharedFrame | null>()
  private framesSeq = -1
  private readonly frameRecords: number
  private readonly maxParts: number

  /**
   * Bounded: what one frame may carry (`frameRecords`), and no commit older
   * than two rotations of the most slots (a client whose slot changed may
   * have waited that long).
   */
  constructor (frameRecords: number, maxSlots: number) {
    this.frameRecords = frameRecords
    this.maxParts = 2 * maxSlots + 1
  }

  /** Forget everything (a reset: these commits belong to an epoch that is gone). */
  clear (): void {
    this.start = 0
    this.end = -1
    this.parts = []
    this.records = 0
    this.frames.clear()
    this.framesSeq = -1
  }

  /** The changes (from, to], just applied. */
  remember (from: number, to: number, records: Buffer): void {
    if (this.end !== from) {
      this.start = this.end = from
      this.parts = []
      this.records = 0
    }
    this.parts.push(records)
    this.end = to
    this.records += records.length / RECORD
    while (this.parts.length > 1 && (this.records - this.parts[0].length / RECORD >= this.frameRecords || this.parts.length > this.maxParts)) {
      const n = (this.parts.shift() as Buffer).length / RECORD
      this.records -= n
      this.start += n
    }
  }

  /**
   * The UPDATES frame from seq `at` to `seq` (the room's), out of memory,
   * built once per (at, seq) for every client that needs it; null when it
   * is not all in memory, or too big for one frame.
   */
  frameFrom (at: number, seq: number): SharedFrame | null {
    if (this.framesSeq !== seq) {
      this.frames.clear()
      this.framesSeq = seq
    }
    let frame = this.frames.get(at)
    if (frame === undefined) {
      frame = this.build(at, seq)
      // Bounded: a slot's clients share one `at`; clients resumed at many
      // other seqs (a resume storm) get frames built for them, not kept.
      if (this.frames.size < FRAME_CACHE_MAX) this.frames.set(at, frame)
    }
    return frame
  }

  private build (at: number, seq: number): SharedFrame | null {
    if (this.end !== seq || at < this.start || at >= seq || seq - at > this.frameRecords) return null
    const parts: Buffer[] = []
    let partStart = this.start
    for (const part of this.parts) {
      const partEnd = partStart + part.length / RECORD
      if (partEnd > at) parts.push(partStart >= at ? part : part.subarray((at - partStart) * RECORD))
      partStart = partEnd
    }
    return new SharedFrame(encodeUpdates(seq, parts.length === 1 ? parts[0] : Buffer.concat(parts)))
  }
}
