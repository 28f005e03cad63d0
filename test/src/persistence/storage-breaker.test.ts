// The storage breaker alone, with a real SQLite file whose write lock another
// connection holds: it opens on a failure, probes with a doubling backoff
// (read from retryAfterMs, not from the clock), closes on the first probe
// that gets the lock, and the backoff starts over only after a real write.
import { join } from 'node:path'
import Database from 'better-sqlite3'
import t from 'tap'
import { createStorageBreaker } from '../../../src/persistence/storage-breaker.js'
import { openDatabase } from '../../../src/persistence/db.js'
import { MIGRATIONS_DIR } from '../../../src/paths.js'
import { tempDir } from '../../helper.js'

t.test('opens on a failure, probes with backoff, closes when the lock is free', async (t) => {
  const file = join(tempDir(t), 'pixelwire.db')
  const db = openDatabase({ file, migrationsDir: MIGRATIONS_DIR, busyTimeoutMs: 0 })
  const other = new Database(file)
  t.teardown(() => { other.close(); db.close() })
  const clock = { ms: 1000 }
  const changes: Array<string | null> = []
  let probes = 0
  let closed!: () => void
  const closedOnce = new Promise<void>((resolve) => { closed = resolve })
  const breaker = createStorageBreaker({
    probe () {
      probes++
      db.exec('BEGIN IMMEDIATE')
      db.exec('ROLLBACK')
    },
    minBackoffMs: 10,
    maxBackoffMs: 40,
    now: () => clock.ms,
    onChange (e) { changes.push(e); if (e === null) closed() }
  })
  t.teardown(() => breaker.close())
  // The breaker's timer is unref'd (it must not hold a server open): keep this test alive.
  const alive = setInterval(() => {}, 1000)
  t.teardown(() => clearInterval(alive))
  t.equal(breaker.available, true)
  t.equal(breaker.retryAfterMs, 0)

  other.exec('BEGIN EXCLUSIVE')
  let err: unknown
  try { db.exec('BEGIN IMMEDIATE') } catch (e) { err = e }
  t.ok(err, 'the write fails under the lock')
  breaker.failed(err)
  t.equal(breaker.available, false)
  t.match(breaker.error, /locked/)
  t.equal(breaker.retryAfterMs, 10, 'first probe after the minimum')
  t.same(changes, [breaker.error], 'told once when it opens')
  breaker.failed(err)
  t.equal(changes.length, 1, 'a second failure while open: no second change')

  // Let probes fail a few times: the backoff doubles up to the max.
  const seen = new Set<number>()
  const probed = () => probes // counted by the breaker's timer, between the awaits
  while (probed() < 4) {
    await new Promise((resolve) => setTimeout(resolve, 5))
    seen.add(breaker.retryAfterMs)
  }
  t.ok(seen.has(20) && seen.has(40), `backoff doubled to the max: ${[...seen].sort((a, b) => a - b).join(', ')}`)
  t.notOk(seen.has(80), 'never past the max')
  t.equal(breaker.available, false)

  other.exec('ROLLBACK')
  await closedOnce
  t.equal(breaker.available, true, 'closed by a probe once the lock is gone')
  t.equal(breaker.error, null)
  t.same(changes.slice(1), [null])

  // A probe passing does not reset the backoff; a real write does.
  breaker.failed(new Error('disk full'))
  t.equal(breaker.retryAfterMs, 40, 'still at the max: no real write succeeded since')
  await new Promise<void>((resolve) => { const i = setInterval(() => { if (breaker.available) { clearInterval(i); resolve() } }, 5) })
  breaker.succeeded()
  breaker.failed(new Error('again'))
  t.equal(breaker.retryAfterMs, 10, 'after a real write the backoff starts over')
})
