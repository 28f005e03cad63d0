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
import { statSync } from 'node:fs'
import type { Db } from './db.js'

export type WalCheck = 'under' | 'truncated' | 'busy'

export interface WalGuardOptions {
  /** the database file; its WAL is `${file}-wal` */
  file: string
  /** above this many bytes, check() checkpoints and truncates */
  maxBytes: number
}

export function createWalGuard (db: Db, { file, maxBytes }: WalGuardOptions) {
  const walFile = `${file}-wal`
  const checkpoints = { truncated: 0, busy: 0 }

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
