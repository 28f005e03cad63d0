// The WAL guard on real SQLite files: over the bound it truncates the WAL,
// unless a reader (here a second connection) still needs it; then it says
// busy without waiting, and truncates once the reader is gone.
import { statSync } from 'node:fs'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import t from 'tap'
import { openDatabase } from '../../../src/persistence/db.js'
import { AUTOCHECKPOINT_PAGES, createWalGuard } from '../../../src/persistence/wal.js'
import { MIGRATIONS_DIR } from '../../../src/paths.js'
import { tempDir } from '../../helper.js'

const BOUND = 256 * 1024
// If a check waited for the reader, the test would hang until tap's timeout: no clock needed to see it.
const BUSY_TIMEOUT_MS = 600_000

function setup (t: Parameters<typeof tempDir>[0]) {
  const file = join(tempDir(t), 'w.db')
  const db = openDatabase({ file, migrationsDir: MIGRATIONS_DIR, busyTimeoutMs: BUSY_TIMEOUT_MS, walLimitBytes: BOUND })
  t.teardown(() => db.close())
  db.exec('CREATE TABLE filler (k INTEGER PRIMARY KEY, v BLOB)')
  // Start from an empty WAL: the migrations' own pages (more with every
  // migration) are not what these tests measure.
  db.pragma('wal_checkpoint(TRUNCATE)')
  const insert = db.prepare('INSERT OR REPLACE INTO filler (k, v) VALUES (?, randomblob(1000))')
  let k = 0
  /** Writes about `bytes` of new pages, in transactions of 100 rows. */
  const write = (bytes: number) => {
    for (let done = 0; done < bytes; done += 100_000) db.transaction(() => { for (let i = 0; i < 100; i++) insert.run(k++) })()
  }
  return { file, db, write, guard: createWalGuard(db, { file, maxBytes: BOUND }) }
}

t.test('journal_size_limit is set at open', async (t) => {
  const { db } = setup(t)
  t.equal(db.pragma('journal_size_limit', { simple: true }), BOUND)
})

t.test('under the bound nothing happens; over it, the WAL is truncated', async (t) => {
  const { write, guard } = setup(t)
  write(10_000)
  t.ok(guard.bytes() > 0 && guard.bytes() <= BOUND)
  t.equal(guard.check(), 'under')
  write(4 * BOUND)
  t.ok(guard.bytes() > BOUND, `grown to ${guard.bytes()}`)
  t.equal(guard.check(), 'truncated')
  t.equal(guard.bytes(), 0, 'the file is empty')
  t.same(guard.checkpoints, { truncated: 1, busy: 0 })
})

t.test('a reader holds it: busy at once (no wait for the busy timeout), truncated after', async (t) => {
  const { file, db, write, guard } = setup(t)
  const reader = new Database(file)
  t.teardown(() => { if (reader.open) reader.close() })
  reader.exec('BEGIN')
  reader.prepare('SELECT count(*) FROM filler').get()
  write(8 * BOUND)
  const held = guard.bytes()
  t.ok(held > 4 * BOUND, `behind the reader the WAL grew to ${held}`)
  t.equal(guard.check(), 'busy')
  t.equal(db.pragma('busy_timeout', { simple: true }), BUSY_TIMEOUT_MS, 'the busy timeout is restored')
  t.ok(guard.bytes() >= held, 'the WAL could not shrink')
  reader.exec('COMMIT')
  reader.close()
  t.equal(guard.check(), 'truncated')
  t.equal(guard.bytes(), 0)
  t.same(guard.checkpoints, { truncated: 1, busy: 1 })
})

t.test('an in-memory database has no WAL file', async (t) => {
  const db = openDatabase({ file: ':memory:', migrationsDir: MIGRATIONS_DIR })
  t.teardown(() => db.close())
  const guard = createWalGuard(db, { file: ':memory:', maxBytes: BOUND })
  t.equal(guard.bytes(), 0)
  t.equal(guard.check(), 'under')
})

t.test('beat checkpoints: SQLite\'s own checkpoint becomes a backstop; afterBeat copies the WAL back, at most every checkpointEveryMs', async (t) => {
  const { file, db, write } = setup(t)
  t.equal(db.pragma('wal_autocheckpoint', { simple: true }), 1000, 'without: SQLite\'s default')
  const guard = createWalGuard(db, { file, maxBytes: 64 * BOUND, checkpointEveryMs: 1000 })
  t.equal(db.pragma('wal_autocheckpoint', { simple: true }), AUTOCHECKPOINT_PAGES)
  // The database file grows only when a checkpoint copies pages into it.
  const dbBytes = () => statSync(file).size
  const before = dbBytes()
  write(8_000_000) // ~2,000 pages: past 1,000, where SQLite's default checkpoint would have run inside a commit
  t.ok(dbBytes() < before + 1_000_000, `no checkpoint inside the commits (database ${dbBytes()} bytes)`)
  guard.afterBeat(10_000)
  t.equal(guard.beatCheckpoints, 1)
  t.ok(dbBytes() > before + 7_000_000, `afterBeat copied the WAL into the database (${dbBytes()} bytes)`)
  const copied = dbBytes()
  write(4_000_000)
  guard.afterBeat(10_500)
  t.equal(guard.beatCheckpoints, 1, 'within checkpointEveryMs: nothing')
  t.equal(dbBytes(), copied)
  guard.afterBeat(11_000)
  t.equal(guard.beatCheckpoints, 2, 'after it: again')
  t.ok(dbBytes() > copied + 3_000_000)
  const off = createWalGuard(db, { file, maxBytes: BOUND })
  off.afterBeat(1e9)
  t.equal(off.beatCheckpoints, 0, 'checkpointEveryMs 0: afterBeat does nothing')
})
