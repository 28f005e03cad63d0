// Opening and migrating the SQLite database. Pragmas are set once here.
import { readdirSync, readFileSync, mkdirSync } from 'node:fs'
import { dirname, join } from 'node:path'
import Database from 'better-sqlite3'

export type Db = Database.Database

export interface OpenOptions {
  /** file path, or ':memory:' */
  file: string
  migrationsDir: string
  busyTimeoutMs?: number
  /** journal_size_limit: the WAL is cut back to this whenever SQLite starts it over (default: never cut) */
  walLimitBytes?: number
}

export function openDatabase ({ file, migrationsDir, busyTimeoutMs = 2000, walLimitBytes = -1 }: OpenOptions): Db {
  if (file !== ':memory:') mkdirSync(dirname(file), { recursive: true })
  const db = new Database(file, { timeout: busyTimeoutMs })
  try {
    db.pragma('journal_mode = WAL')
    // NORMAL in WAL mode: a commit is in the OS before the call returns, so a
    // killed process loses nothing it committed; only power loss may lose the
    // last transactions. See docs/protocol.md "Durability".
    db.pragma('synchronous = NORMAL')
    db.pragma('foreign_keys = ON')
    // See wal.ts: without it a WAL grown behind a long reader keeps its size.
    db.pragma(`journal_size_limit = ${Math.trunc(walLimitBytes)}`)
    migrate(db, migrationsDir)
  } catch (err) {
    db.close()
    throw err
  }
  return db
}

interface Migration { version: number, name: string, sql: string }

export function readMigrations (dir: string): Migration[] {
  const out: Migration[] = []
  for (const name of readdirSync(dir).sort()) {
    const m = /^(\d+)-[\w-]+\.sql$/.exec(name)
    if (m === null) continue
    out.push({ version: Number(m[1]), name, sql: readFileSync(join(dir, name), 'utf8') })
  }
  out.forEach((m, i) => {
    if (m.version !== i + 1) throw new Error(`migrations must be numbered 1..N without gaps: ${m.name} is #${i + 1}`)
  })
  return out
}

/**
 * Apply every migration above PRAGMA user_version, each in its own IMMEDIATE
 * transaction that also bumps user_version, so a crash leaves the database at
 * a whole version. A database newer than this code is refused.
 */
export function migrate (db: Db, dir: string): number {
  const migrations = readMigrations(dir)
  const current = db.pragma('user_version', { simple: true }) as number
  if (current > migrations.length) {
    throw new Error(`database schema version ${current} is newer than this server knows (${migrations.length}); upgrade the server`)
  }
  for (const m of migrations.slice(current)) {
    db.transaction(() => {
      db.exec(m.sql)
      db.pragma(`user_version = ${m.version}`)
    }).immediate()
  }
  return migrations.length
}
