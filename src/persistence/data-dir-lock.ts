// One server per DATA_DIR. A second process on the same database would
// number changes from its own in-memory seq, and both would then fail their
// commits (UNIQUE constraint failed: change_log...).
//
// The lock is SQLite's own write lock (fcntl) on a small side database,
// DATA_DIR/pixelwire.lock, held by a write transaction left open for the
// life of the process. The OS drops it when the process dies, kill -9
// included, so a stale file never blocks the next start. The main database
// stays an ordinary WAL database that other processes (the sqlite3 CLI, a
// backup) can read. The holder's pid, host and start time are committed
// before the hold, so a refused process (or `sqlite3 pixelwire.lock 'select
// * from holder'`) can name it: a RESERVED lock lets readers in.
import { mkdirSync } from 'node:fs'
import { hostname } from 'node:os'
import { join } from 'node:path'
import Database from 'better-sqlite3'

export const LOCK_FILE = 'pixelwire.lock'

export interface LockHolder { pid: number, host: string, startedAt: string }

export class DataDirInUseError extends Error {
  readonly holder: LockHolder | null

  constructor (dir: string, holder: LockHolder | null) {
    const who = holder === null
      ? 'another process'
      : `another pixelwire server (pid ${holder.pid} on host ${holder.host}, started ${holder.startedAt})`
    super(`DATA_DIR ${dir} is in use by ${who}; stop it first, or give this one another DATA_DIR`)
    this.holder = holder
  }
}

export interface DataDirLock {
  file: string
  /** idempotent */
  release (): void
}

/** Take the lock on `dir` or throw DataDirInUseError naming the holder. */
export function lockDataDir (dir: string): DataDirLock {
  mkdirSync(dir, { recursive: true })
  const file = join(dir, LOCK_FILE)
  // A short wait: the holder takes a write lock only for an instant at its
  // own start; after that a waiter would wait in vain.
  const db = new Database(file, { timeout: 200 })
  try {
    db.exec('CREATE TABLE IF NOT EXISTS holder (pid INTEGER NOT NULL, host TEXT NOT NULL, started_at TEXT NOT NULL)')
    db.exec('BEGIN IMMEDIATE')
    db.exec('DELETE FROM holder')
    db.prepare('INSERT INTO holder (pid, host, started_at) VALUES (?, ?, ?)').run(process.pid, hostname(), new Date().toISOString())
    db.exec('COMMIT')
    // Held from here on. Should another process slip in between the commit
    // and this line, it holds the lock (and its own name): we are refused.
    db.exec('BEGIN IMMEDIATE')
  } catch (err) {
    const busy = (err as { code?: string }).code === 'SQLITE_BUSY'
    const holder = busy ? readHolder(db) : null
    db.close() // rolls back whatever we started
    throw busy ? new DataDirInUseError(dir, holder) : err
  }
  return {
    file,
    release () {
      if (db.open) db.close() // rolls back the open transaction: the lock goes
    }
  }
}

function readHolder (db: Database.Database): LockHolder | null {
  try {
    const row = db.prepare('SELECT pid, host, started_at AS startedAt FROM holder').get() as LockHolder | undefined
    return row ?? null
  } catch {
    return null // the holder had not recorded itself yet
  }
}
