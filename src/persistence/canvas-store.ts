// Every SQL statement about canvases, prepared once. Synchronous by design
// (better-sqlite3): a tick's commit is one short transaction on the event loop.
import type { Db } from './db.js'
import { PIXEL_RECORD_BYTES as RECORD, readRgb, readU16, writePixelRecord } from '../protocol/wire.js'

export type CanvasId = string

export interface CanvasRow {
  id: CanvasId
  width: number
  height: number
  epoch: string
  seq: number
  createdAt: number
  /** a frozen canvas refuses non-admin draws (default false) */
  frozen?: boolean
  /** the only colours draws may use, 0xRRGGBB; null or absent: any colour */
  palette?: number[] | null
  /** the seq the current epoch began at (a reset keeps numbering after the old epoch; default 0) */
  epochSeq?: number
}

/** A canvas row as SQLite has it (frozen 0/1, palette as JSON text). */
interface StoredRow extends Omit<CanvasRow, 'frozen' | 'palette'> { frozen: number, palette: string | null }

const COLUMNS = 'id, width, height, epoch, seq, created_at AS createdAt, frozen, palette, epoch_seq AS epochSeq'

function fromStored (r: StoredRow): CanvasRow {
  return { ...r, frozen: r.frozen === 1, palette: r.palette === null ? null : JSON.parse(r.palette) as number[] }
}

/**
 * Who drew a run of consecutive records in a batch: `count` records by
 * `user` (the JWT sub), shown as `name` (its display name then, if known).
 */
export interface Authorship { user: string, count: number, name?: string }

/** A rectangle of a canvas, in pixels: x .. x + w - 1, y .. y + h - 1. */
export interface Region { x: number, y: number, w: number, h: number }

/**
 * What a revert would write: packed records (the colours to restore), or
 * not ok when the user has more than `cap` changes after `since`.
 */
export type RevertPlan = { ok: true, records: Buffer } | { ok: false }

/** `name`: the user's last display name stored (users table), null for a sub that never had one. */
export interface PixelChangeRow { seq: number, x: number, y: number, color: number, user: string, name: string | null, at: number }

export interface CanvasStoreOptions {
  /**
   * Stored snapshots kept per canvas (SNAPSHOT_KEEP), newest first: boot
   * needs only the newest; the older ones bound the replay of a timelapse
   * frame (snapshot.png?seq=N) to about SNAPSHOT_EVERY changes. Default 1.
   */
  snapshotKeep?: number
}

export function createCanvasStore (db: Db, opts: CanvasStoreOptions = {}) {
  const keep = Math.max(1, opts.snapshotKeep ?? 1)
  const stmts = {
    list: db.prepare(`SELECT ${COLUMNS} FROM canvases WHERE deleted = 0 ORDER BY id`),
    get: db.prepare(`SELECT ${COLUMNS} FROM canvases WHERE id = ? AND deleted = 0`),
    insert: db.prepare('INSERT INTO canvases (id, width, height, epoch, seq, created_at, frozen, palette, epoch_seq) VALUES (@id, @width, @height, @epoch, @seq, @createdAt, @frozen, @palette, @epochSeq)'),
    setFrozen: db.prepare('UPDATE canvases SET frozen = ? WHERE id = ?'),
    setPalette: db.prepare('UPDATE canvases SET palette = ? WHERE id = ?'),
    newEpoch: db.prepare('UPDATE canvases SET epoch = ?, epoch_seq = seq WHERE id = ?'),
    epochSeqOf: db.prepare('SELECT epoch_seq FROM canvases WHERE id = ?').pluck(),
    markDeleted: db.prepare('UPDATE canvases SET deleted = 1 WHERE id = ? AND deleted = 0'),
    dropSnapshots: db.prepare('DELETE FROM snapshots WHERE canvas = ?'),
    purgeChanges: db.prepare('DELETE FROM change_log WHERE canvas = ? AND seq IN (SELECT seq FROM change_log WHERE canvas = ? ORDER BY seq LIMIT ?)'),
    dropDeleted: db.prepare('DELETE FROM canvases WHERE id = ? AND deleted = 1'),
    deletedIds: db.prepare('SELECT id FROM canvases WHERE deleted = 1').pluck(),
    setSeq: db.prepare('UPDATE canvases SET seq = ? WHERE id = ? AND seq = ?'),
    seqOf: db.prepare('SELECT seq FROM canvases WHERE id = ?').pluck(),
    log: db.prepare('INSERT INTO change_log (canvas, seq, x, y, color, user, at) VALUES (?, ?, ?, ?, ?, ?, ?)'),
    after: db.prepare('SELECT x, y, color FROM change_log WHERE canvas = ? AND seq > ? ORDER BY seq LIMIT ?').raw(true),
    latestSnapshot: db.prepare('SELECT seq, pixels FROM snapshots WHERE canvas = ? ORDER BY seq DESC LIMIT 1'),
    saveSnapshot: db.prepare('INSERT OR REPLACE INTO snapshots (canvas, seq, pixels, at) VALUES (?, ?, ?, ?)'),
    // Keep the newest `keep`: delete those below the keep-th newest.
    pruneSnapshots: db.prepare('DELETE FROM snapshots WHERE canvas = ? AND seq < (SELECT seq FROM snapshots WHERE canvas = ? ORDER BY seq DESC LIMIT 1 OFFSET ?)'),
    oldestSnapshot: db.prepare('SELECT min(seq) FROM snapshots WHERE canvas = ?').pluck(),
    snapshotAtOrBefore: db.prepare('SELECT seq, pixels FROM snapshots WHERE canvas = ? AND seq <= ? ORDER BY seq DESC LIMIT 1'),
    between: db.prepare('SELECT x, y, color FROM change_log WHERE canvas = ? AND seq > ? AND seq <= ? ORDER BY seq LIMIT ?').raw(true),
    // A reset's blank snapshot replaces every older one (timelapse images never span epochs).
    dropSnapshotsBefore: db.prepare('DELETE FROM snapshots WHERE canvas = ? AND seq < ?'),
    // Only the current epoch's changes (seq > epoch_seq): a pixel not painted since a reset is white.
    pixelAt: db.prepare('SELECT seq, x, y, color, user, at FROM change_log WHERE canvas = ? AND x = ? AND y = ? AND seq > (SELECT epoch_seq FROM canvases WHERE id = ?) ORDER BY seq DESC LIMIT 1'),
    // One row per authorship run of a commit (migration 005): what revert finds a user's changes by.
    run: db.prepare('INSERT OR REPLACE INTO change_runs (canvas, user, last_seq, first_seq) VALUES (?, ?, ?, ?)'),
    // Revert: the user's runs after a seq, their rows (primary key ranges),
    // then, per pixel, its history newest first (index change_log_pixel).
    userRuns: db.prepare('SELECT first_seq, last_seq FROM change_runs WHERE canvas = ? AND user = ? AND last_seq > ? ORDER BY last_seq').raw(true),
    runRows: db.prepare('SELECT x, y, user FROM change_log WHERE canvas = ? AND seq BETWEEN ? AND ?').raw(true),
    history: db.prepare('SELECT user, seq, color FROM change_log WHERE canvas = ? AND y = ? AND x = ? ORDER BY seq DESC').raw(true),
    nameOf: db.prepare('SELECT name FROM users WHERE sub = ?').pluck(),
    // Only when the name changed: a painter's every batch costs one indexed read, no write.
    nameUser: db.prepare('INSERT INTO users (sub, name) VALUES (?, ?) ON CONFLICT (sub) DO UPDATE SET name = excluded.name WHERE name IS NOT excluded.name')
  }

  /**
   * Append `records` (packed x u16, y u16, r, g, b) as seq fromSeq+1.. and move
   * canvases.seq. The seq guard makes a commit against a stale seq fail
   * loudly instead of forking the history. Runs inside a transaction.
   */
  function writeBatch (canvas: CanvasId, fromSeq: number, records: Buffer, authors: Authorship[], at: number): void {
    const count = records.length / RECORD
    let seq = fromSeq
    let off = 0
    for (const { user, count: n, name } of authors) {
      if (name !== undefined) stmts.nameUser.run(user, name)
      if (n > 0) stmts.run.run(canvas, user, seq + n, seq + 1)
      for (let i = 0; i < n; i++, off += RECORD) {
        seq++
        stmts.log.run(canvas, seq, readU16(records, off), readU16(records, off + 2), readRgb(records, off + 4), user, at)
      }
    }
    if (seq !== fromSeq + count) throw new Error(`authorship covers ${seq - fromSeq} of ${count} records`)
    const res = stmts.setSeq.run(seq, canvas, fromSeq)
    if (res.changes !== 1) throw new Error(`canvas ${canvas} is not at seq ${fromSeq}`)
  }

  const commit = db.transaction(writeBatch)

  /** The batch goes right after the canvas's last seq, read in the same transaction: the log numbers it. */
  const append = db.transaction((canvas: CanvasId, records: Buffer, authors: Authorship[], at: number) => {
    const from = stmts.seqOf.get(canvas) as number | undefined
    if (from === undefined) throw new Error(`no canvas ${canvas}`)
    writeBatch(canvas, from, records, authors, at)
    return { from, to: from + records.length / RECORD }
  })

  const saveSnapshot = db.transaction((canvas: CanvasId, seq: number, deflated: Buffer, at: number) => {
    stmts.saveSnapshot.run(canvas, seq, deflated, at)
    stmts.pruneSnapshots.run(canvas, canvas, keep - 1)
  })

  /**
   * Every pixel of `region` whose newest change is by `user` after seq
   * `since`, with the colour it had before that user's run of changes
   * there (after `since`): the newest change by anyone else, or by `user`
   * at or before `since`; `blank` when there is none. Work is bounded: the
   * user's changes after `since` are counted from their runs (change_runs)
   * before any is read, and more than `cap` answer not ok; then each is
   * read once by primary key, and each pixel's history only down to the
   * first change that is not one of them.
   */
  const revertPlan = db.transaction((canvas: CanvasId, user: string, sinceAsked: number, r: Region, cap: number, blank: number): RevertPlan => {
    // Only the current epoch (migration 006): changes before a reset are history, never restored.
    const floor = (stmts.epochSeqOf.get(canvas) as number | undefined) ?? 0
    const since = Math.max(sinceAsked, floor)
    const runs = stmts.userRuns.all(canvas, user, since) as Array<[number, number]>
    let total = 0
    for (const [first, last] of runs) total += last - Math.max(first, since + 1) + 1
    if (total > cap) return { ok: false }
    /** the pixels in scope, as y * 65536 + x (coordinates are u16) */
    const pixels = new Set<number>()
    for (const [first, last] of runs) {
      for (const [x, y, by] of stmts.runRows.iterate(canvas, Math.max(first, since + 1), last) as Iterable<[number, number, string]>) {
        if (by === user && x >= r.x && x < r.x + r.w && y >= r.y && y < r.y + r.h) pixels.add(y * 65536 + x)
      }
    }
    const out = Buffer.allocUnsafe(pixels.size * RECORD)
    let off = 0
    for (const key of pixels) {
      const x = key % 65536
      const y = Math.floor(key / 65536)
      let run = 0 // the user's changes in scope on top of this pixel's history
      let color = blank
      for (const [by, seq, c] of stmts.history.iterate(canvas, y, x) as Iterable<[string, number, number]>) {
        if (seq <= floor) break // before the reset: the pixel was blank then
        if (by === user && seq > since) { run++; continue }
        if (run > 0) color = c
        break
      }
      // run 0: someone else painted over it since; it is not the user's pixel any more
      if (run === 0) continue
      writePixelRecord(out, off, x, y, color)
      off += RECORD
    }
    return { ok: true, records: out.subarray(0, off) }
  })

  function pack (rows: Array<[number, number, number]>): Buffer {
    const out = Buffer.allocUnsafe(rows.length * RECORD)
    let off = 0
    for (const [x, y, color] of rows) {
      writePixelRecord(out, off, x, y, color)
      off += RECORD
    }
    return out
  }

  /**
   * A new epoch for the canvas, in one transaction: it starts at the
   * canvas's seq (read here, so no commit slips between) with `blank` (the
   * deflated white picture) stored as its snapshot; older snapshots go.
   */
  const reset = db.transaction((canvas: CanvasId, epoch: string, blank: Buffer, at: number) => {
    const seq = stmts.seqOf.get(canvas) as number | undefined
    if (seq === undefined) return undefined
    stmts.newEpoch.run(epoch, canvas)
    stmts.saveSnapshot.run(canvas, seq, blank, at)
    stmts.dropSnapshotsBefore.run(canvas, seq)
    return { seq }
  })

  const removeNow = db.transaction((id: CanvasId): boolean => {
    if (stmts.markDeleted.run(id).changes !== 1) return false
    stmts.dropSnapshots.run(id)
    return true
  })

  const purgeStep = db.transaction((id: CanvasId, limit: number): boolean => {
    if (stmts.purgeChanges.run(id, id, limit).changes > 0) return false
    stmts.dropDeleted.run(id)
    return true
  })

  return {
    list: () => (stmts.list.all() as StoredRow[]).map(fromStored),
    get (id: CanvasId): CanvasRow | undefined {
      const row = stmts.get.get(id) as StoredRow | undefined
      return row === undefined ? undefined : fromStored(row)
    },
    insert (row: CanvasRow): void {
      const palette = row.palette === undefined || row.palette === null ? null : JSON.stringify(row.palette)
      stmts.insert.run({ ...row, frozen: row.frozen === true ? 1 : 0, palette, epochSeq: row.epochSeq ?? 0 })
    },
    /** false: no such canvas */
    setFrozen: (id: CanvasId, frozen: boolean): boolean => stmts.setFrozen.run(frozen ? 1 : 0, id).changes === 1,
    setPalette: (id: CanvasId, palette: number[] | null): boolean => stmts.setPalette.run(palette === null ? null : JSON.stringify(palette), id).changes === 1,
    /** A blank canvas under `epoch`, numbered on after the old one; undefined: no such canvas. */
    reset (id: CanvasId, epoch: string, blank: Buffer, at = Date.now()): { seq: number } | undefined {
      return reset.immediate(id, epoch, blank, at)
    },
    /**
     * Delete the canvas: at once gone from list/get (and its snapshots);
     * its change log is purged afterwards by `purge` steps. false: no such canvas.
     */
    remove: (id: CanvasId): boolean => removeNow.immediate(id),
    /**
     * One purge step of a deleted canvas: up to `limit` changes, oldest
     * first; once none is left, the row itself. true: nothing left.
     */
    purge (id: CanvasId, limit: number): boolean {
      return purgeStep.immediate(id, limit)
    },
    /** Canvases deleted whose purge has not finished (a restart cut it short). */
    deleting: (): CanvasId[] => stmts.deletedIds.all() as CanvasId[],
    /** Commit a batch that must start right after `fromSeq` (IMMEDIATE transaction). */
    commit (canvas: CanvasId, fromSeq: number, records: Buffer, authors: Authorship[], at = Date.now()): void {
      commit.immediate(canvas, fromSeq, records, authors, at)
    },
    /**
     * Commit a batch after whatever the canvas's last seq is, in one
     * IMMEDIATE transaction; returns the seqs it got: (from, to]. The canvas
     * log port's commit (src/persistence/canvas-log.ts).
     */
    append (canvas: CanvasId, records: Buffer, authors: Authorship[], at = Date.now()): { from: number, to: number } {
      return append.immediate(canvas, records, authors, at)
    },
    /**
     * Up to `limit` changes after `afterSeq`, packed as UPDATES records, in seq
     * order. The log has no holes, so the caller knows the last seq covered is
     * afterSeq + records.length / 7.
     */
    changesAfter (canvas: CanvasId, afterSeq: number, limit: number): Buffer {
      return pack(stmts.after.all(canvas, afterSeq, limit) as Array<[number, number, number]>)
    },
    /** Up to `limit` changes with afterSeq < seq <= upTo, packed, in seq order (a timelapse frame's replay). */
    changesBetween (canvas: CanvasId, afterSeq: number, upTo: number, limit: number): Buffer {
      return pack(stmts.between.all(canvas, afterSeq, upTo, limit) as Array<[number, number, number]>)
    },
    /** The seq of the oldest stored snapshot (undefined: none stored). */
    oldestSnapshotSeq: (canvas: CanvasId) => (stmts.oldestSnapshot.get(canvas) as number | null) ?? undefined,
    /** The newest stored snapshot at or before `seq`. */
    snapshotAtOrBefore: (canvas: CanvasId, seq: number) => stmts.snapshotAtOrBefore.get(canvas, seq) as { seq: number, pixels: Buffer } | undefined,
    latestSnapshot: (canvas: CanvasId) => stmts.latestSnapshot.get(canvas) as { seq: number, pixels: Buffer } | undefined,
    /** Store a deflated snapshot and drop all but the newest `snapshotKeep` (boot needs the newest; timelapse the others). */
    saveSnapshot (canvas: CanvasId, seq: number, deflated: Buffer, at = Date.now()): void {
      saveSnapshot.immediate(canvas, seq, deflated, at)
    },
    revertPlan (canvas: CanvasId, user: string, since: number, region: Region, cap: number, blank: number): RevertPlan {
      return revertPlan(canvas, user, since, region, cap, blank)
    },
    /** The last change at a pixel, with its painter's stored name (a second lookup by primary key). */
    pixelAt (canvas: CanvasId, x: number, y: number): PixelChangeRow | undefined {
      const row = stmts.pixelAt.get(canvas, x, y, canvas) as Omit<PixelChangeRow, 'name'> | undefined
      if (row === undefined) return undefined
      return { ...row, name: (stmts.nameOf.get(row.user) as string | undefined) ?? null }
    }
  }
}

export type CanvasStore = ReturnType<typeof createCanvasStore>
