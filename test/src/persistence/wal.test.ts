// The WAL guard on real SQLite files: over the bound it truncates the WAL,
// unless a reader (here a second connection) still needs it; then it says
// busy without waiting, and truncates once the reader is gone.
import { join } from 'node:path'
import Database from 'better-sqlite3'
import t from 'tap'
import { openDatabase } from '../../../src/persistence/db.js'
import { createWalGuard } from '../../../src/persistence/wal.js'
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
