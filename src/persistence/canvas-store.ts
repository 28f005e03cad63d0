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
 * One slice of a revert's scan of the log: the user's changes with seq in
 * (from, to], as [x, y] pairs (from: where the slice began, at or after
 * the seq asked: seqs before the epoch or the log's first one are not
 * read), and `end`, the canvas's seq when it was read (to === end: the
 * scan has reached the end of the log).
 */
export interface RevertSlice { changes: Array<[number, number]>, from: number, to: number, end: number }

/**
 * `name`: the painter's display name when the change was made (migration
 * 008); for a change made before 008, or without a name, the sub's latest
 * stored name (users table); null for a sub that never had one.
 */
export interface PixelChangeRow { seq: number, x: number, y: number, color: number, user: string, name: string | null, at: number }

/**
 * Change-log rows per INSERT statement. One statement per row cost ~2.1 µs a
 * row (bench/cost.ts `append`), most of it per statement (binding, the call
 * into SQLite, the statement's own setup); 100 rows a statement ~1.0 µs.
 * A batch is written in statements of LOG_CHUNKS rows, largest first, so
 * any length takes at most 9 + 9 small statements beside its big ones.
 */
const LOG_CHUNKS = [100, 10, 1] as const
const LOG_COLUMNS = 8
export interface CanvasStoreOptions {
  /**
   * Painters whose interned name id is kept in memory (NAME_CACHE_SIZE);
   * past it the cache starts over (each painter costs two statements once
   * more); 0: none kept, every run of a named painter asks SQLite.
   */
  nameCacheSize?: number
  /**
   * Stored snapshots kept per canvas (SNAPSHOT_KEEP), newest first: boot
   * needs only the newest; the older ones bound the replay of a timelapse
   * frame (snapshot.png?seq=N) to about SNAPSHOT_EVERY changes. Default 1.
   */
  snapshotKeep?: number
}

export function createCanvasStore (db: Db, { nameCacheSize = 10_000, snapshotKeep = 1 }: CanvasStoreOptions = {}) {
  const keep = Math.max(1, snapshotKeep)
  const logInsert = (rows: number) => db.prepare(
    'INSERT INTO change_log (canvas, seq, x, y, color, user, at, name_id) VALUES ' + Array<string>(rows).fill('(?, ?, ?, ?, ?, ?, ?, ?)').join(', ')
  )
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
    logChunks: LOG_CHUNKS.map(logInsert),
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
    pixelAt: db.prepare('SELECT seq, x, y, color, user, at, name_id AS nameId FROM change_log WHERE canvas = ? AND x = ? AND y = ? AND seq > (SELECT epoch_seq FROM canvases WHERE id = ?) ORDER BY seq DESC LIMIT 1'),
    // Revert: the first seq of the log after a seq (a log that starts later
    // is not scanned through its missing prefix), the user's changes in a seq
    // range (a primary-key range, filtered on user: no index of its own, so
    // commits pay nothing for it), then, per pixel, its history newest first
    // (index change_log_pixel).
    firstAfter: db.prepare('SELECT seq FROM change_log WHERE canvas = ? AND seq > ? ORDER BY seq LIMIT 1').pluck(),
    userChanges: db.prepare('SELECT x, y FROM change_log WHERE canvas = ? AND seq > ? AND seq <= ? AND user = ?').raw(true),
    history: db.prepare('SELECT user, seq, color FROM change_log WHERE canvas = ? AND y = ? AND x = ? ORDER BY seq DESC').raw(true),
    nameById: db.prepare('SELECT name FROM painter_names WHERE id = ?').pluck(),
    nameOf: db.prepare('SELECT name FROM users WHERE sub = ?').pluck(),
    // cluster mode (src/broker/redis-order.ts): a replica taking the cluster's canvas, or its snapshot
    adopt: db.prepare('UPDATE canvases SET epoch = ?, width = ?, height = ? WHERE id = ? AND seq = 0'),
    rebaseCanvas: db.prepare('UPDATE canvases SET epoch = ?, seq = ? WHERE id = ?'),
    dropLog: db.prepare('DELETE FROM change_log WHERE canvas = ?'),
    logStart: db.prepare('SELECT min(seq) FROM change_log WHERE canvas = ?').pluck(),
    // Only when the name changed (a cache miss): the sub's latest name.
    nameUser: db.prepare('INSERT INTO users (sub, name) VALUES (?, ?) ON CONFLICT (sub) DO UPDATE SET name = excluded.name WHERE name IS NOT excluded.name'),
    // The pair's id, new or not (DO UPDATE, unlike DO NOTHING, returns the existing row).
    internName: db.prepare('INSERT INTO painter_names (sub, name) VALUES (?, ?) ON CONFLICT (sub, name) DO UPDATE SET name = excluded.name RETURNING id').pluck()
  }

  /**
   * Per sub, the name of its last commit and that (sub, name) pair's id in
   * painter_names: a painter's batches cost a Map lookup, no statement,
   * until the name changes. Filled only by a commit that succeeded (an id
   * handed out by a rolled-back transaction does not exist), bounded by
   * nameCacheSize. Another process writing the same file may move a
   * sub's users row (its latest name) meanwhile; only pre-008 rows read it.
   */
  const names = new Map<string, { name: string, id: number }>()
  /** pairs interned by the transaction in progress, cached once it commits */
  const interned: Array<[string, { name: string, id: number }]> = []

  function nameId (user: string, name: string): number {
    const known = names.get(user)
    if (known !== undefined && known.name === name) return known.id
    // Painters interleave within a batch: a pair this transaction interned already is not asked again.
    for (let i = interned.length - 1; i >= 0; i--) {
      if (interned[i][0] !== user) continue
      if (interned[i][1].name === name) return interned[i][1].id
      break
    }
    stmts.nameUser.run(user, name)
    const id = stmts.internName.get(user, name) as number
    interned.push([user, { name, id }])
    return id
  }

  /**
   * After a commit: keep what it interned if it is durable. Not when it was
   * nested in a caller's transaction (that one may still roll back), and a
   * failure forgets every cached id: whatever went wrong, the next commit
   * asks SQLite again instead of repeating a stale id.
   */
  function settleNames (committed: boolean, nested: boolean): void {
    if (!committed) {
      names.clear()
    } else if (!nested && interned.length <= nameCacheSize) {
      if (names.size + interned.length > nameCacheSize) names.clear()
      for (const [user, entry] of interned) names.set(user, entry)
    }
    interned.length = 0
  }

  /** Each chunk size's arguments, reused (no allocation per commit): filled row by row, LOG_COLUMNS each. */
  const chunkArgs = LOG_CHUNKS.map((rows) => new Array<unknown>(rows * LOG_COLUMNS))

  /**
   * Append `records` (packed x u16, y u16, r, g, b) as seq fromSeq+1.. and move
   * canvases.seq. The seq guard makes a commit against a stale seq fail
   * loudly instead of forking the history. Runs inside a transaction.
   */
  function writeBatch (canvas: CanvasId, fromSeq: number, records: Buffer, authors: Authorship[], at: number): void {
    const count = records.length / RECORD
    let covered = 0
    for (const a of authors) covered += a.count
    if (covered !== count) throw new Error(`authorship covers ${covered} of ${count} records`)
    let seq = fromSeq
    let off = 0
    // The current run of authors: its painter, name id and records left.
    let run = -1
    let user = ''
    let id: number | null = null
    let left = 0
    for (let c = 0; c < LOG_CHUNKS.length; c++) {
      const rows = LOG_CHUNKS[c]
      const stmt = stmts.logChunks[c]
      const args = chunkArgs[c]
      while (fromSeq + count - seq >= rows) {
        for (let r = 0, a = 0; r < rows; r++, off += RECORD) {
          while (left === 0) {
            const next = authors[++run]
            user = next.user
            id = next.name === undefined ? null : nameId(user, next.name)
            left = next.count
          }
          left--
          args[a++] = canvas
          args[a++] = ++seq
          args[a++] = readU16(records, off)
          args[a++] = readU16(records, off + 2)
          args[a++] = readRgb(records, off + 4)
          args[a++] = user
          args[a++] = at
          args[a++] = id
        }
        stmt.run(args)
      }
    }
    const res = stmts.setSeq.run(seq, canvas, fromSeq)
    if (res.changes !== 1) throw new Error(`canvas ${canvas} is not at seq ${fromSeq}`)
  }

  const commit = db.transaction(writeBatch)

  /** The batch goes right after the canvas's last seq, read in the same transaction: the log numbers it. */
  const append = db.transaction(function append (canvas: CanvasId, records: Buffer, authors: Authorship[], at: number) {
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
   * A revert's scan, one slice: the user's changes with seq in (after, to],
   * to = after + at most `rows` seqs of the log, never past the canvas's seq
   * read in the same (read) transaction. Only the current epoch (migration
   * 006): the scan starts at the epoch's first seq at the earliest. A log
   * that starts later still (its older part gone) is scanned from its first seq.
   */
  const revertSlice = db.transaction((canvas: CanvasId, user: string, afterAsked: number, rows: number): RevertSlice => {
    const after = Math.max(afterAsked, (stmts.epochSeqOf.get(canvas) as number | undefined) ?? 0)
    const end = stmts.seqOf.get(canvas) as number | undefined
    if (end === undefined || end <= after) return { changes: [], from: after, to: after, end: end ?? after }
    const first = stmts.firstAfter.get(canvas, after) as number | undefined
    const from = first === undefined ? end : Math.max(after, first - 1)
    const to = Math.min(end, from + rows)
    const changes = stmts.userChanges.all(canvas, from, to, user) as Array<[number, number]>
    return { changes, from, to, end }
  })

  /**
   * Each of `pixels` (y * 65536 + x) whose newest change is by `user` after
   * seq `since`, with the colour it had before that user's run of changes
   * there (after `since`): the newest change by anyone else, or by `user`
   * at or before `since`; `blank` when there is none. A pixel whose newest
   * change is someone else's is left out. Reads each pixel's history
   * (index change_log_pixel) only down to the first change that is not one
   * of the user's after `since`. The log is the truth here: `pixels` may
   * name more than the user's current pixels, never fewer (a reset between
   * the scan and this: the floor below leaves them all out).
   */
  const revertPlan = db.transaction((canvas: CanvasId, user: string, sinceAsked: number, pixels: Iterable<number>, count: number, blank: number): Buffer => {
    // Only the current epoch (migration 006): changes before a reset are history, never restored.
    const floor = (stmts.epochSeqOf.get(canvas) as number | undefined) ?? 0
    const since = Math.max(sinceAsked, floor)
    const out = Buffer.allocUnsafe(count * RECORD)
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
    return out.subarray(0, off)
  })

  /** The canvas at `seq` from a snapshot alone: the older log goes, so the log stays without holes after its start. */
  const rebase = db.transaction((canvas: CanvasId, epoch: string, seq: number, deflated: Buffer, at: number) => {
    stmts.dropLog.run(canvas)
    stmts.dropSnapshots.run(canvas)
    stmts.saveSnapshot.run(canvas, seq, deflated, at)
    if (stmts.rebaseCanvas.run(epoch, seq, canvas).changes !== 1) throw new Error(`no canvas ${canvas}`)
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
      const nested = db.inTransaction
      let ok = false
      try {
        commit.immediate(canvas, fromSeq, records, authors, at)
        ok = true
      } finally {
        settleNames(ok, nested)
      }
    },
    /**
     * Commit a batch after whatever the canvas's last seq is, in one
     * IMMEDIATE transaction; returns the seqs it got: (from, to]. The canvas
     * log port's commit (src/persistence/canvas-log.ts).
     */
    append (canvas: CanvasId, records: Buffer, authors: Authorship[], at = Date.now()): { from: number, to: number } {
      const nested = db.inTransaction
      let ok = false
      try {
        const range = append.immediate(canvas, records, authors, at)
        ok = true
        return range
      } finally {
        settleNames(ok, nested)
      }
    },
    /**
     * Up to `limit` changes after `afterSeq`, packed as UPDATES records, in seq
     * order. The log has no holes, so the caller knows the last seq covered is
     * afterSeq + records.length / 7.
     */
    changesAfter (canvas: CanvasId, afterSeq: number, limit: number): Buffer {
      return pack(stmts.after.all(canvas, afterSeq, limit) as Array<[number, number, number]>)
    },
    /** Cluster mode: a canvas never drawn on (seq 0) takes the cluster's epoch and size. */
    adopt (canvas: CanvasId, epoch: string, width: number, height: number): void {
      if (stmts.adopt.run(epoch, width, height, canvas).changes !== 1) throw new Error(`canvas ${canvas} is not at seq 0`)
    },
    /**
     * Cluster mode, a node further behind than the cluster's stream: the
     * canvas becomes the snapshot at `seq`; its log starts after it (the
     * pixel history before it is not on this node).
     */
    rebase (canvas: CanvasId, epoch: string, seq: number, deflated: Buffer, at = Date.now()): void {
      rebase.immediate(canvas, epoch, seq, deflated, at)
    },
    /** The seq the canvas's log continues from: its first change's seq - 1 (0 for a full log; the canvas's seq when empty). */
    logFloor (canvas: CanvasId, seq: number): number {
      const first = stmts.logStart.get(canvas) as number | null
      return first === null ? seq : first - 1
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
    /** See revertSlice above: one bounded slice of a revert's scan of the log. */
    revertSlice (canvas: CanvasId, user: string, after: number, rows: number): RevertSlice {
      return revertSlice(canvas, user, after, rows)
    },
    /** See revertPlan above: the records that revert `pixels` (a Set or array of `count` keys y * 65536 + x). */
    revertPlan (canvas: CanvasId, user: string, since: number, pixels: Iterable<number>, count: number, blank: number): Buffer {
      return revertPlan(canvas, user, since, pixels, count, blank)
    },
    /** The last change at a pixel, with its painter's name then (see PixelChangeRow; a second lookup by primary key). */
    pixelAt (canvas: CanvasId, x: number, y: number): PixelChangeRow | undefined {
      const found = stmts.pixelAt.get(canvas, x, y, canvas) as (Omit<PixelChangeRow, 'name'> & { nameId: number | null }) | undefined
      if (found === undefined) return undefined
      const { nameId, ...row } = found
      const name = nameId !== null ? stmts.nameById.get(nameId) : stmts.nameOf.get(row.user)
      return { ...row, name: (name as string | undefined) ?? null }
    }
  }
}

export type CanvasStore = ReturnType<typeof createCanvasStore>
