// The memory broker with its history in a real SQLite file (the
// HistoryStore port): batched writes, the count and age bounds in both
// places, a reload after a "restart" (a new broker on the same file), and a
// store that fails (a real lock held by another connection).
import { join } from 'node:path'
import Database from 'better-sqlite3'
import t, { type Test } from 'tap'
import { createMemoryBroker } from '../../../src/broker/memory.js'
import type { BrokerEvent } from '../../../src/broker/broker.js'
import { openDatabase } from '../../../src/persistence/db.js'
import { createStreamStore } from '../../../src/persistence/stream-store.js'
import { MIGRATIONS_DIR } from '../../../src/paths.js'
import { tempDir } from '../../helper.js'

const T0 = 1_700_000_000_000
const msg = (json: string): BrokerEvent => ({ type: 'message', stream: 'chat:x', json })
const TOPIC = 'stream:chat:x'

function setup (t: Test, busyTimeoutMs = 0) {
  const file = join(tempDir(t), 'pixelwire.db')
  const db = openDatabase({ file, migrationsDir: MIGRATIONS_DIR, busyTimeoutMs })
  t.teardown(() => db.close())
  const clock = { ms: T0 }
  const make = (maxPending?: number) => {
    const b = createMemoryBroker({ now: () => clock.ms, store: createStreamStore(db), maxPending })
    b.start(() => 0)
    return b
  }
  const rows = () => db.prepare('SELECT offset, data FROM stream_messages WHERE topic = ? ORDER BY offset').all(TOPIC) as Array<{ offset: number, data: string }>
  return { file, db, clock, make, rows }
}

t.test('messages are written at flush, in one batch, and read back by a new broker', async (t) => {
  const { clock, make, rows } = setup(t)
  const a = make()
  const offs = ['"a"', '"b"', '"c"'].map((j) => a.publish(TOPIC, msg(j), { history: 10 }).offset)
  t.same(rows(), [], 'nothing written before the flush')
  t.equal(a.pending, 3)
  t.same(a.flush(), { written: 3 })
  t.same(rows().map((r) => r.data), ['"a"', '"b"', '"c"'])
  t.same(a.flush(), { written: 0 }, 'nothing new: no transaction')

  clock.ms += 5000 // a later boot
  const b = make()
  const h = b.history(TOPIC, offs[0])
  t.equal(h.recovered, true)
  t.same(h.publications.map((p) => [p.offset, (p.event as { json: string }).json]), [[offs[1], '"b"'], [offs[2], '"c"']])
  const next = b.publish(TOPIC, msg('"d"'), { history: 10 }).offset
  t.ok(next > offs[2] && next > (T0 + 5000) * 1000, 'the next offset jumps to the boot floor: above anything a crash may have lost')
  t.same(b.history(TOPIC, offs[2]).publications.map((p) => p.offset), [next], 'the last stored offset resumes across the jump')
  t.equal(b.history(TOPIC, offs[2] + 1).recovered, false, 'an offset inside the jump was never stored: not recovered')
  t.same(b.last(TOPIC, 2).publications.map((p) => p.offset), [offs[2], next], 'last N')
  t.same(b.last(TOPIC, 100).publications.length, 4, 'last N: no more than held')
})

t.test('the count bound trims SQLite in the same batch; the age bound expires in both places', async (t) => {
  const { clock, make, rows } = setup(t)
  const a = make()
  for (let i = 0; i < 5; i++) a.publish(TOPIC, msg(String(i)), { history: 2, historyMaxAgeMs: 60_000 })
  a.flush()
  t.same(rows().map((r) => r.data), ['3', '4'], 'only the last two stored')
  const [, last] = rows()
  clock.ms += 30_000
  a.publish(TOPIC, msg('5'), { history: 2, historyMaxAgeMs: 60_000 })
  a.flush()
  clock.ms += 31_000 // 3 and 4 are now 61 s old, 5 is 31 s old
  a.expire()
  t.same(rows().map((r) => r.data), ['5'], 'expired rows deleted')
  t.same(a.last(TOPIC, 10).publications.map((p) => (p.event as { json: string }).json), ['5'], 'and gone from memory')
  t.equal(a.history(TOPIC, last.offset).recovered, true, 'since the last expired one: everything after it is held')
  t.equal(a.history(TOPIC, last.offset - 1).recovered, false, 'before it: not recovered')
  const b = make()
  t.same(b.last(TOPIC, 10).publications.length, 1, 'a new broker reads only what is not expired')
})

t.test('a store that fails keeps messages waiting, bounded, and writes them once it answers', async (t) => {
  const { file, make, rows } = setup(t)
  const a = make(3)
  const other = new Database(file)
  t.teardown(() => { if (other.open) other.close() })
  other.exec('BEGIN EXCLUSIVE')
  for (let i = 0; i < 5; i++) a.publish(TOPIC, msg(String(i)), { history: 10 })
  t.throws(() => a.flush(), /locked|busy/i, 'the lock makes the write fail')
  t.equal(a.pending, 3, 'still waiting, at most maxPending')
  t.equal(a.lost, 2, 'the oldest two given up, counted')
  t.same(a.last(TOPIC, 10).publications.length, 5, 'subscribers are still served from memory')
  other.exec('ROLLBACK')
  t.same(a.flush(), { written: 3 })
  t.same(rows().map((r) => r.data), ['2', '3', '4'])
})
