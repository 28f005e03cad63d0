// The DATA_DIR lock within one process (SQLite tracks its locks per file
// across connections, so two holders in one process exclude each other as
// two processes do; test/data-dir-lock.test.ts runs real processes).
import { writeFileSync } from 'node:fs'
import { hostname } from 'node:os'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import t from 'tap'
import { DataDirInUseError, LOCK_FILE, lockDataDir } from '../../../src/persistence/data-dir-lock.js'
import { tempDir } from '../../helper.js'

t.test('one holder at a time, named to the one refused', async (t) => {
  const dir = tempDir(t)
  const before = Date.now()
  const first = lockDataDir(dir)
  t.teardown(() => first.release())
  t.equal(first.file, join(dir, LOCK_FILE))

  const err = (() => {
    try {
      lockDataDir(dir)
    } catch (e) {
      return e
    }
  })()
  t.ok(err instanceof DataDirInUseError, 'the second lock is refused')
  const refused = err as DataDirInUseError
  t.equal(refused.holder?.pid, process.pid, 'holder pid')
  t.equal(refused.holder?.host, hostname(), 'holder host')
  const started = Date.parse(refused.holder?.startedAt ?? '')
  t.ok(started >= before - 1000 && started <= Date.now(), 'holder start time is when it locked')
  t.match(refused.message, `DATA_DIR ${dir} is in use by another pixelwire server (pid ${process.pid} on host ${hostname()}, started ${refused.holder?.startedAt})`)

  // The holder record is readable while the lock is held (what an operator's sqlite3 sees).
  const reader = new Database(join(dir, LOCK_FILE), { readonly: true })
  t.same(reader.prepare('SELECT pid, host FROM holder').all(), [{ pid: process.pid, host: hostname() }], 'one holder row, readable')
  reader.close()

  first.release()
  first.release() // idempotent
  const second = lockDataDir(dir)
  t.pass('taken again once released')
  second.release()
})

t.test('a lock file of a dead holder does not block', async (t) => {
  const dir = tempDir(t)
  // What kill -9 leaves: the file and its holder row, no lock.
  const stale = new Database(join(dir, LOCK_FILE))
  stale.exec("CREATE TABLE holder (pid INTEGER NOT NULL, host TEXT NOT NULL, started_at TEXT NOT NULL); INSERT INTO holder VALUES (999999, 'gone', '2020-01-01T00:00:00.000Z')")
  stale.close()
  const lock = lockDataDir(dir)
  t.teardown(() => lock.release())
  const reader = new Database(join(dir, LOCK_FILE), { readonly: true })
  t.same(reader.prepare('SELECT pid FROM holder').all(), [{ pid: process.pid }], 'the stale row is replaced by ours')
  reader.close()
})

t.test('other failures are not reported as "in use"', async (t) => {
  const file = join(tempDir(t), 'not-a-dir')
  writeFileSync(file, '')
  t.throws(() => lockDataDir(join(file, 'data')), { code: 'ENOTDIR' })
  const dir = tempDir(t)
  writeFileSync(join(dir, LOCK_FILE), 'not a database, just bytes, long enough to have a header....')
  t.throws(() => lockDataDir(dir), { code: 'SQLITE_NOTADB' })
})
