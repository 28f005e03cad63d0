// The canvas log port: where committed changes are numbered and kept. Its
// implementation is the only writer of seqs (src/persistence/canvas-log.ts:
// SQLite, one transaction per batch); a room's seq only ever follows it.
import type { Authorship, CanvasId } from '../persistence/canvas-store.js'

/** Seqs (from, to] a commit got: from + 1 .. to. */
export interface CommitRange { from: number, to: number }

export interface CanvasLog {
  /**
   * Append one batch (packed 7-byte records, in order) after the canvas's
   * last seq, durably, in one transaction; `authors` covers the records in
   * runs. Throws when it cannot be stored: then nothing was.
   */
  commit (canvas: CanvasId, records: Buffer, authors: Authorship[]): CommitRange
  /** Up to `limit` changes after seq `after`, packed, in seq order (the log has no holes). */
  changesAfter (canvas: CanvasId, after: number, limit: number): Buffer
}
