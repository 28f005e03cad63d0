// The moderation domain without a server: lock geometry on each draw op,
// ban expiry and guest addresses, the audit log's bounds, on a real SQLite
// database (migration 005) and the in-memory broker.
import t, { type Test } from 'tap'
import { join } from 'node:path'
import { copyFileSync, mkdirSync, readdirSync } from 'node:fs'
import { openDatabase } from '../../../src/persistence/db.js'
import { MIGRATIONS_DIR } from '../../../src/paths.js'
import { createMemoryBroker } from '../../../src/broker/memory.js'
import { createPipeline } from '../../../src/hub/fanout.js'
import { createAuditStore, createBanStore, createLockStore } from '../../../src/persistence/moderation-store.js'
import { createLocks } from '../../../src/moderation/locks.js'
import { createBans, banMessage } from '../../../src/moderation/bans.js'
import { createAudit, summarize } from '../../../src/moderation/audit.js'
import { createCanvasStore } from '../../../src/persistence/canvas-store.js'
import { DomainError } from '../../../src/domain-error.js'
import { packRgb, writePixelRecord } from '../../../src/protocol/wire.js'
import { tempDir } from '../../helper.js'

function db (t: Test) {
  const d = openDatabase({ file: join(tempDir(t), 'db'), migrationsDir: MIGRATIONS_DIR })
  t.teardown(() => d.close())
  createCanvasStore(d).insert({ id: 'main', width: 16, height: 16, epoch: 'e', seq: 0, createdAt: 0 })
  return d
}

function records (pts: Array<[number, number]>): Buffer {
  const b = Buffer.alloc(pts.length * 7)
  pts.forEach(([x, y], i) => writePixelRecord(b, i * 7, x, y, packRgb(1, 2, 3)))
  return b
}

t.test('locks: which ops touch a region; the cap; the broker event keeps every copy current', async (t) => {
  const d = db(t)
  const pipeline = createPipeline(createMemoryBroker())
  // The canvas service subscribes every canvas's topic on a node; here, by hand.
  pipeline.broker.subscribe('canvas:main')
  const opts = { store: createLockStore(d), broker: pipeline.broker, fanout: pipeline.fanout, maxPerCanvas: 2 }
  const locks = createLocks(opts)
  t.equal(locks.blocking('main', { kind: 'pixels', records: records([[4, 4]]) }), undefined, 'no locks: nothing blocks')
  const lock = locks.add('main', { x: 4, y: 4, w: 2, h: 3 }, 'logo', 'root')
  const px = (x: number, y: number) => locks.blocking('main', { kind: 'pixels', records: records([[15, 15], [x, y]]) })?.id
  t.equal(px(4, 4), lock.id, 'top-left corner')
  t.equal(px(5, 6), lock.id, 'bottom-right corner')
  t.equal(px(6, 4), undefined, 'right of it')
  t.equal(px(4, 7), undefined, 'below it')
  t.equal(px(3, 4), undefined, 'left of it')
  const rect = (x: number, y: number, w: number, h: number) => locks.blocking('main', { kind: 'rect', x, y, w, h, color: 0 })?.id
  t.equal(rect(0, 0, 5, 5), lock.id, 'overlapping its corner')
  t.equal(rect(0, 0, 4, 16), undefined, 'ending just left of it')
  t.equal(rect(6, 0, 10, 16), undefined, 'starting just right of it')
  t.equal(rect(0, 7, 16, 9), undefined, 'starting just below it')
  t.equal(rect(5, 6, 1, 1), lock.id, 'inside it')
  t.equal(locks.blocking('main', { kind: 'cursor', x: 4, y: 4 }), undefined, 'a cursor is no draw')
  t.equal(locks.blocking('other', { kind: 'rect', x: 0, y: 0, w: 16, h: 16, color: 0 }), undefined, 'another canvas')

  // A second node's copy (another Locks on the same store) follows through the broker event.
  const second = createLocks({ ...opts, fanout: { on () {} } })
  t.equal(second.blocking('main', { kind: 'rect', x: 4, y: 4, w: 1, h: 1, color: 0 })?.id, lock.id, 'loaded at start')
  locks.add('main', { x: 0, y: 0, w: 1, h: 1 }, null, 'root')
  t.throws(() => locks.add('main', { x: 0, y: 0, w: 1, h: 1 }, null, 'root'), new DomainError('conflict', 'TOO_MANY_LOCKS', ''))
  locks.remove('main', lock.id)
  t.equal(px(4, 4), undefined, 'lifted')
  t.throws(() => locks.remove('main', lock.id), { code: 'LOCK_NOT_FOUND' })
  t.same(locks.list('main').map((l) => l.x), [0])
  // A deleted canvas's rows cascade away; refresh drops the copies.
  d.prepare("DELETE FROM canvases WHERE id = 'main'").run()
  t.not(px(0, 0), undefined, 'still held before the refresh')
  locks.refresh('main')
  t.equal(locks.blocking('main', { kind: 'rect', x: 0, y: 0, w: 1, h: 1, color: 0 }), undefined, 'dropped')
})

t.test('bans: expiry, guest addresses, replace, lift, the disconnect event', async (t) => {
  const d = db(t)
  let now = 1_000_000
  const published: unknown[] = []
  const bans = createBans({ store: createBanStore(d), broker: { publish: (topic, event) => { published.push([topic, event]); return { offset: 0, delivered: 0 } } }, guestIpKeepMs: 3600_000, now: () => now })
  bans.guestIssued('guest:a', '10.0.0.1')
  const ban = bans.ban({ user: 'guest:a', seconds: 10, reason: 'spam' }, 'root', ['10.0.0.9'])
  t.equal(ban.ip, '10.0.0.1', 'the issuance address first')
  t.same(published, [['user:guest:a', { type: 'disconnect', user: 'guest:a', code: 4403, reason: 'banned' }]])
  t.equal(bans.ofIp('10.0.0.1')?.user, 'guest:a')
  t.equal(bans.ban({ user: 'guest:b' }, 'root', ['10.0.0.9']).ip, '10.0.0.9', 'no issuance recorded: its connections\' address')
  t.equal(bans.ban({ user: 'alice' }, 'root', ['10.0.0.8']).ip, null, 'not a guest: no address')
  t.equal(banMessage(ban), `banned until ${new Date(now + 10_000).toISOString()}: spam`)
  t.equal(banMessage(bans.of('alice')!), 'banned')
  t.throws(() => bans.ban({ user: 'root' }, 'root'), { code: 'CANNOT_BAN_SELF' })

  now += 10_000
  t.equal(bans.of('guest:a'), undefined, 'ended exactly at until')
  t.equal(bans.ofIp('10.0.0.1'), undefined)
  t.same(bans.list().map((b) => b.user), ['alice', 'guest:b'], 'oldest first, then by user')
  t.throws(() => bans.lift('guest:a'), { code: 'BAN_NOT_FOUND' })
  bans.lift('alice')
  t.same(bans.list().map((b) => b.user), ['guest:b'])

  // Guest addresses are forgotten once no token of theirs can be alive.
  now += 3600_001
  bans.guestIssued('guest:c', '10.0.0.3')
  t.equal(bans.ban({ user: 'guest:a' }, 'root').ip, null, 'guest:a\'s address was pruned')
})

t.test('audit: bounded by count and age, paged newest first, bodies summarized', async (t) => {
  const d = db(t)
  let now = 0
  const audit = createAudit({ store: createAuditStore(d), maxEntries: 3, maxAgeMs: 1000, bodyBytes: 16, now: () => now })
  const rec = (i: number) => audit.record({ admin: 'root', method: 'POST', route: '/r', url: `/r/${i}`, params: { i }, body: { i }, status: 200 })
  for (let i = 1; i <= 5; i++) { now += 100; rec(i) }
  t.same(audit.page(10).map((e) => e.params.i), [5, 4, 3], 'the newest 3')
  t.same(audit.page(10, audit.page(1)[0].id).map((e) => e.params.i), [4, 3])
  now += 950
  rec(6)
  t.same(audit.page(10).map((e) => e.params.i), [6, 5], 'older than a second: gone')
  audit.record({ admin: 'root', method: 'DELETE', route: '/r', url: '/r', params: undefined, body: undefined, status: 204 })
  t.match(audit.page(1)[0], { params: {}, body: null })

  t.equal(summarize(undefined, 10), null)
  t.equal(summarize({ a: 1 }, 10), '{"a":1}')
  t.equal(summarize('x'.repeat(20), 10), '"xxxxxx…', 'cut to the byte bound, the ellipsis included')
  t.ok(Buffer.byteLength(summarize('x'.repeat(20), 10) as string) <= 10)
  const cut = summarize('éééééééé', 10) as string
  t.ok(Buffer.byteLength(cut) <= 10, 'multi-byte: still within the bound')
  t.notMatch(cut, /\uFFFD/, 'no half character')
  const circular: Record<string, unknown> = {}
  circular.self = circular
  t.equal(summarize(circular, 100), '[object Object]', 'what JSON cannot say, said plainly')
})

t.test('migration 005 finds the runs of a log written before it; commits write theirs', async (t) => {
  const dir = tempDir(t)
  const old = join(dir, 'migrations-004')
  mkdirSync(old)
  for (const f of readdirSync(MIGRATIONS_DIR).filter((f) => f < '005')) copyFileSync(join(MIGRATIONS_DIR, f), join(old, f))
  const file = join(dir, 'db')
  const before = openDatabase({ file, migrationsDir: old })
  before.prepare('INSERT INTO canvases (id, width, height, epoch, seq, created_at) VALUES (\'main\', 16, 16, \'e\', 8, 0)').run()
  const users = ['a', 'a', 'b', 'a', 'a', 'a', 'b', 'b']
  const insert = before.prepare('INSERT INTO change_log (canvas, seq, x, y, color, user, at) VALUES (\'main\', ?, 0, 0, 0, ?, 0)')
  users.forEach((u, i) => insert.run(i + 1, u))
  before.close()
  const after = openDatabase({ file, migrationsDir: MIGRATIONS_DIR })
  t.teardown(() => after.close())
  const runs = () => after.prepare('SELECT user, first_seq, last_seq FROM change_runs ORDER BY first_seq').raw(true).all()
  t.same(runs(), [['a', 1, 2], ['b', 3, 3], ['a', 4, 6], ['b', 7, 8]])
  createCanvasStore(after).append('main', records([[1, 1], [2, 2], [3, 3]]), [{ user: 'b', count: 1 }, { user: 'c', count: 2 }])
  t.same(runs().slice(4), [['b', 9, 9], ['c', 10, 11]], 'one row per authorship run of a commit')
})
