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
import { createCanvasLog } from '../../../src/persistence/canvas-log.js'
import { createCanvasService, type CanvasClient } from '../../../src/canvas/canvas-service.js'
import { revert } from '../../../src/moderation/revert.js'
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
  const lock = await locks.add('main', { x: 4, y: 4, w: 2, h: 3 }, 'logo', 'root')
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
  t.same(published, [['user:guest:a', { type: 'disconnect', code: 4403, reason: 'banned' }]])
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

/** A real canvas service (16x16 'main', never ticking: the test flushes) on a real SQLite file. */
function service (t: Test) {
  const db = openDatabase({ file: join(tempDir(t), 'c.db'), migrationsDir: MIGRATIONS_DIR })
  t.teardown(() => { if (db.open) db.close() })
  const store = createCanvasStore(db)
  const { hub, broker, fanout } = createPipeline<CanvasClient>(createMemoryBroker())
  const svc = createCanvasService<CanvasClient>({
    store, canvasLog: createCanvasLog(store), hub, broker, fanout, log: { info () {}, warn () {}, error () {} }, tickMs: 50, maxPendingPixels: 1000, maxReplay: 1000, sendBufferBytes: 100000, snapshotEvery: 100000, defaultCanvas: { id: 'main', width: 16, height: 16 }
  })
  svc.load()
  return { db, store, svc, canvas: svc.get('main')! }
}

t.test('a log written before migration 005 is reverted from the log itself after the upgrade (005 adds no table for it)', async (t) => {
  const dir = tempDir(t)
  const old = join(dir, 'migrations-004')
  mkdirSync(old)
  for (const f of readdirSync(MIGRATIONS_DIR).filter((f) => f < '005')) copyFileSync(join(MIGRATIONS_DIR, f), join(old, f))
  const file = join(dir, 'db')
  const before = openDatabase({ file, migrationsDir: old })
  before.prepare('INSERT INTO canvases (id, width, height, epoch, seq, created_at) VALUES (\'main\', 16, 16, \'e\', 8, 0)').run()
  // pixel (0,0): b then a, a; pixel (1,0): a only; pixel (2,0): a then b over it
  const rows: Array<[number, string, number]> = [[0, 'b', 0x0b], [1, 'a', 0x0a], [0, 'a', 0x1a], [0, 'a', 0x2a], [2, 'a', 0x3a], [2, 'b', 0x1b], [3, 'c', 0x0c], [1, 'a', 0x4a]]
  const insert = before.prepare('INSERT INTO change_log (canvas, seq, x, y, color, user, at) VALUES (\'main\', ?, ?, 0, ?, ?, 0)')
  rows.forEach(([x, u, c], i) => insert.run(i + 1, x, c, u))
  before.close()
  const after = openDatabase({ file, migrationsDir: MIGRATIONS_DIR })
  t.teardown(() => after.close())
  t.same(after.prepare('SELECT name FROM sqlite_schema WHERE name LIKE \'%run%\'').all(), [], 'no change_runs table')
  const store = createCanvasStore(after)
  const slice = store.revertSlice('main', 'a', 0, 100)
  t.same(slice, { changes: [[1, 0], [0, 0], [0, 0], [2, 0], [1, 0]], from: 0, to: 8, end: 8 }, 'the user\'s changes, by seq')
  const keys = [0, 1, 2]
  const plan = store.revertPlan('main', 'a', 0, keys, keys.length, 0xffffff)
  const want = Buffer.alloc(14)
  writePixelRecord(want, 0, 0, 0, 0x0b)
  writePixelRecord(want, 7, 1, 0, 0xffffff)
  t.same(plan, want, '(0,0) back to b\'s colour, (1,0) to blank, (2,0) painted over by b: left alone')
  t.same(store.revertSlice('main', 'a', 2, 3), { changes: [[0, 0], [0, 0], [2, 0]], from: 2, to: 5, end: 8 }, 'a slice: at most its seqs, after `after`')
})

t.test('revert scans a log longer than several slices, commits keep being served between slices, and the answer is the log\'s at the commit', async (t) => {
  const { db, store, svc, canvas } = service(t)
  // 600 changes by a, b and c (a in about half), 3 per commit, over the 256 pixels
  let seed = 7
  const rand = (n: number) => { seed = (seed * 1103515245 + 12345) % 2147483648; return Math.floor(seed / 65536) % n }
  const one = (x: number, y: number, c: number) => { const b = Buffer.alloc(7); writePixelRecord(b, 0, x, y, c); return b }
  for (let i = 0; i < 200; i++) {
    const user = ['a', 'a', 'b', 'c'][rand(4)]
    svc.commitNow(canvas, Buffer.concat([0, 1, 2].map((k) => one(rand(16), rand(16), i * 3 + k + 1))), user)
  }
  const aNow = db.prepare('SELECT x, y FROM change_log l WHERE canvas = \'main\' AND user = \'a\' AND seq = (SELECT MAX(seq) FROM change_log WHERE canvas = l.canvas AND x = l.x AND y = l.y) ORDER BY seq').raw(true).all() as Array<[number, number]>
  t.ok(aNow.length > 12, 'a has pixels to revert')

  // Every turn of the event loop while the revert runs: b draws over one of
  // a's pixels, a draws a new change, both committed (draw, then the beat's flush).
  let done = false
  let turns = 0
  let color = 0x800000
  const painter = () => {
    if (done) return
    const [bx, by] = aNow[turns % aNow.length]
    svc.draw(canvas, { kind: 'pixels', records: one(bx, by, color++) }, 'b', 2)
    svc.draw(canvas, { kind: 'pixels', records: one(rand(16), rand(16), color++) }, 'a', 1)
    svc.flush()
    turns++
    setImmediate(painter)
  }
  const slices: Array<{ to: number, end: number }> = []
  const scanning = {
    revertSlice (...args: Parameters<typeof store.revertSlice>) { const s = store.revertSlice(...args); slices.push({ to: s.to, end: s.end }); return s },
    revertPlan: store.revertPlan
  }
  setImmediate(painter)
  const res = await revert({ canvases: svc, store: scanning, maxChanges: 100000, sliceRows: 25, maxScan: 1000000 }, 'main', { user: 'a' }, 'admin:root')
  done = true
  t.ok(slices.length > 20, `${slices.length} slices of at most 25 seqs`)
  t.ok(turns >= slices.length - 1, `${turns} commits served while the revert scanned`)
  t.ok(slices[slices.length - 1].end > slices[0].end, 'the log grew during the scan, and the scan followed it to its end')
  t.equal(slices[slices.length - 1].to, slices[slices.length - 1].end)

  // What the revert must have done, worked out from the log as it was when it committed.
  const from = res.seq - res.reverted
  const log = db.prepare('SELECT x, y, color, user FROM change_log WHERE canvas = \'main\' AND seq <= ? ORDER BY seq').raw(true).all(from) as Array<[number, number, number, string]>
  const history = new Map<number, Array<[number, string]>>()
  for (const [x, y, c, u] of log) { const k = y * 16 + x; if (!history.has(k)) history.set(k, []); history.get(k)!.push([c, u]) }
  const want = new Map<number, number>()
  for (const [k, h] of history) {
    if (h[h.length - 1][1] !== 'a') continue
    let i = h.length - 1
    while (i >= 0 && h[i][1] === 'a') i--
    want.set(k, i >= 0 ? h[i][0] : 0xffffff)
  }
  const got = db.prepare('SELECT x, y, color, user FROM change_log WHERE canvas = \'main\' AND seq > ? AND seq <= ? ORDER BY seq').raw(true).all(from, res.seq) as Array<[number, number, number, string]>
  t.ok(res.reverted > 0)
  t.same(new Map(got.map(([x, y, c]) => [y * 16 + x, c])), want, 'each of a\'s current pixels back to the colour before a, nothing else')
  t.ok(got.every(([, , , u]) => u === 'admin:root'), 'recorded as the admin')
  t.ok(aNow.some(([x, y]) => !want.has(y * 16 + x)), 'a pixel of a\'s painted over by b during the scan is left alone')
  const drawnDuring = db.prepare('SELECT x, y FROM change_log WHERE canvas = \'main\' AND user = \'a\' AND color >= 0x800000 AND seq <= ?').raw(true).all(from) as Array<[number, number]>
  t.ok(drawnDuring.some(([x, y]) => want.has(y * 16 + x)), 'a pixel a drew during the scan is reverted too')
})

t.test('revert: REVERT_MAX_CHANGES counts the user\'s changes across slices; REVERT_MAX_SCAN bounds the seqs scanned', async (t) => {
  const { db, store, svc, canvas } = service(t)
  // 40 changes: a at every 4th seq (10 of them)
  for (let i = 0; i < 40; i++) {
    const b = Buffer.alloc(7)
    writePixelRecord(b, 0, i % 16, i >> 4, i)
    svc.commitNow(canvas, b, i % 4 === 0 ? 'a' : 'b')
  }
  const deps = { canvases: svc, store, maxChanges: 10, sliceRows: 3, maxScan: 40 }
  const tooMany = { code: 'TOO_MANY_CHANGES' }
  await t.rejects(revert({ ...deps, maxChanges: 9 }, 'main', { user: 'a' }, 'admin:root'), tooMany, '10 changes > 9: 409')
  await t.rejects(revert({ ...deps, maxScan: 39 }, 'main', { user: 'a' }, 'admin:root'), tooMany, '40 seqs to scan > 39: 409')
  t.same(await revert({ ...deps, maxScan: 39 }, 'main', { user: 'a', since: 1 }, 'admin:root'), { reverted: 9, seq: 49 }, 'since 1: 39 seqs, 9 changes: within both')
  t.equal(db.prepare('SELECT count(*) FROM change_log').pluck().get(), 49, 'nothing written by the refused ones')
  // After a reset only the new epoch is scanned (and counted against REVERT_MAX_SCAN): 5 seqs, not 54.
  t.same(await svc.reset('main'), { epoch: svc.get('main')!.epoch, seq: 49 })
  for (let i = 0; i < 5; i++) {
    const b = Buffer.alloc(7)
    writePixelRecord(b, 0, i, 8, 0x123456)
    svc.commitNow(svc.get('main')!, b, 'a')
  }
  t.same(await revert({ ...deps, maxScan: 5 }, 'main', { user: 'a' }, 'admin:root'), { reverted: 5, seq: 59 }, 'the new epoch\'s 5 changes, back to blank')
})
