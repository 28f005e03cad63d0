// Keeping the write-ahead log bounded. SQLite appends every commit to the
// WAL and copies it back into the database at checkpoints; the file is
// reused from the start only when no reader still needs its frames, and it
// is never shrunk unless told to. So another process holding a read
// transaction (a backup, an analytics query) makes it grow for as long as it
// reads, and without a limit it stays that large after the reader is gone.
//
// Two measures: `journal_size_limit` (set at open, db.ts) shrinks the file
// whenever SQLite starts it over; and `check()`, run periodically, asks for
// a TRUNCATE checkpoint once the file is over the bound, which also covers a
// server that went idle with a large WAL. The checkpoint runs with a busy
// timeout of 0, so it never waits for a reader on the event loop: with a
// reader in the way it copies what it can and reports `busy`, and the next
// check tries again. Its cost is the copying itself, which the automatic
// checkpoint after the next commit would do anyway.
//
// Where the copying happens: SQLite's automatic checkpoint runs inside the
// commit that takes the WAL past 1,000 pages, so on the broadcast beat,
// between the commit and the frames it holds: at 10,000 px/s one beat in
// ~54 took ~4 ms more CPU plus an fsync (bench/cost.ts terms), a tail
// latency every pixel of that beat paid. With `checkpointEveryMs`, the
// beat checkpoints itself right after its frames were written (PASSIVE:
// never waiting for a reader or writer), at most that often, and SQLite's
// own checkpoint stays only as the backstop past AUTOCHECKPOINT_PAGES (ticks
// stopped, a burst larger than a beat's worth of WAL).
import { statSync } from 'node:fs'
import type { Db } from './db.js'

/** SQLite's automatic checkpoint when the beats checkpoint: past this many WAL pages (40 MB at 4 KiB), a backstop only. */
export const AUTOCHECKPOINT_PAGES = 10_000

export type WalCheck = 'under' | 'truncated' | 'busy'

export interface WalGuardOptions {
  /** the database file; its WAL is `${file}-wal` */
  file: string
  /** above this many bytes, check() checkpoints and truncates */
  maxBytes: number
  /** > 0: afterBeat() checkpoints at most this often and SQLite's own checkpoint is the backstop only (see the top); 0: SQLite's own */
  checkpointEveryMs?: number
}

export function createWalGuard (db: Db, { file, maxBytes, checkpointEveryMs = 0 }: WalGuardOptions) {
  const walFile = `${file}-wal`
  const checkpoints = { truncated: 0, busy: 0 }
  /** checkpoints done by afterBeat() */
  let beatCheckpoints = 0
  if (checkpointEveryMs > 0) db.pragma(`wal_autocheckpoint = ${AUTOCHECKPOINT_PAGES}`)
  let lastBeatCheckpoint = -Infinity

  /** Size of the WAL file now (0 when there is none, e.g. an in-memory database). */
  function bytes (): number {
    try {
      return statSync(walFile).size
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return 0
      throw err
    }
  }

  function truncate (): boolean {
    const timeout = db.pragma('busy_timeout', { simple: true }) as number
    db.pragma('busy_timeout = 0')
    try {
      const [row] = db.pragma('wal_checkpoint(TRUNCATE)') as Array<{ busy: number }>
      return row.busy === 0
    } catch (err) {
      // Another connection holds the checkpoint or write lock right now.
      if ((err as { code?: string }).code === 'SQLITE_BUSY') return false
      throw err
    } finally {
      db.pragma(`busy_timeout = ${timeout}`)
    }
  }

  return {
    maxBytes,
    bytes,
    /** Checkpoints done by check(), by result. */
    checkpoints,
    /** Checkpoints done by afterBeat(). */
    get beatCheckpoints (): number { return beatCheckpoints },
    /**
     * Right after a beat's frames were written: copy the WAL back into the
     * database (PASSIVE) if the last such copy is checkpointEveryMs old.
     * Nothing when checkpointEveryMs is 0. A failure is thrown: the caller
     * logs it, and the next beat or SQLite's backstop tries again.
     */
    afterBeat (now = performance.now()): void {
      if (checkpointEveryMs <= 0 || now - lastBeatCheckpoint < checkpointEveryMs || !db.open) return
      lastBeatCheckpoint = now
      beatCheckpoints++
      db.pragma('wal_checkpoint(PASSIVE)')
    },
    /** Bring the WAL back under the bound if it is over it and nothing holds it. */
    check (): WalCheck {
      if (!db.open || bytes() <= maxBytes) return 'under'
      const done = truncate()
      checkpoints[done ? 'truncated' : 'busy']++
      return done ? 'truncated' : 'busy'
    }
  }
}

export type WalGuard = ReturnType<typeof createWalGuard>
