import { join } from 'node:path'
import t from 'tap'
import { openDatabase } from '../../../src/persistence/db.js'
import { createCanvasStore } from '../../../src/persistence/canvas-store.js'
import { MIGRATIONS_DIR } from '../../../src/paths.js'
import { tempDir } from '../../helper.js'

function records (...px: Array<[number, number, number]>): Buffer {
  const b = Buffer.alloc(px.length * 7)
  px.forEach(([x, y, c], i) => {
    b.writeUInt16BE(x, i * 7); b.writeUInt16BE(y, i * 7 + 2)
    b[i * 7 + 4] = c >> 16; b[i * 7 + 5] = (c >> 8) & 255; b[i * 7 + 6] = c & 255
  })
  return b
}

function setup (t: Tap) {
  const db = openDatabase({ file: join(tempDir(t), 'c.db'), migrationsDir: MIGRATIONS_DIR })
  t.teardown(() => db.close())
  const store = createCanvasStore(db)
  store.insert({ id: 'c', width: 10, height: 10, epoch: 'e1', seq: 0, createdAt: 1 })
  return { db, store }
}
type Tap = { teardown (fn: () => unknown): void }

t.test('commit appends the log and moves seq in one transaction', async (t) => {
  const { store } = setup(t)
  store.commit('c', 0, records([1, 2, 0xff0000], [3, 4, 0x00ff00], [1, 2, 0x0000ff]), [{ user: 'a', count: 2 }, { user: 'b', count: 1 }], 1000)
  t.equal(store.get('c')?.seq, 3)
  t.same(store.changesAfter('c', 0, 10), records([1, 2, 0xff0000], [3, 4, 0x00ff00], [1, 2, 0x0000ff]))
  t.same(store.changesAfter('c', 2, 10), records([1, 2, 0x0000ff]))
  t.same(store.changesAfter('c', 1, 1), records([3, 4, 0x00ff00]), 'limit')
  t.equal(store.changesAfter('c', 3, 10).length, 0)
  t.same(store.pixelAt('c', 1, 2), { seq: 3, x: 1, y: 2, color: 0x0000ff, user: 'b', name: null, at: 1000 }, 'last change at a coordinate')
  t.equal(store.pixelAt('c', 9, 9), undefined)
})

t.test('painter names: one users row per sub, the latest name, in the commit', async (t) => {
  const { db, store } = setup(t)
  store.commit('c', 0, records([1, 1, 1], [2, 2, 2]), [{ user: 'a', name: 'Ann', count: 1 }, { user: 'b', count: 1 }], 1)
  t.equal(store.pixelAt('c', 1, 1)?.name, 'Ann')
  t.equal(store.pixelAt('c', 2, 2)?.name, null, 'no name given: none stored')
  store.commit('c', 2, records([3, 3, 3]), [{ user: 'a', name: 'Ann B.', count: 1 }], 2)
  t.equal(store.pixelAt('c', 1, 1)?.name, 'Ann B.', 'the latest name, for every pixel of that sub')
  t.same(db.prepare('SELECT sub, name FROM users').all(), [{ sub: 'a', name: 'Ann B.' }])
  t.throws(() => store.commit('c', 0, records([4, 4, 4]), [{ user: 'z', name: 'Zed', count: 1 }], 3), 'a stale commit fails')
  t.same(db.prepare('SELECT sub FROM users').all(), [{ sub: 'a' }], 'a failed commit stores no name')
})

t.test('a commit against a stale seq fails and writes nothing', async (t) => {
  const { store } = setup(t)
  store.commit('c', 0, records([1, 1, 1]), [{ user: 'a', count: 1 }])
  t.throws(() => store.commit('c', 0, records([2, 2, 2]), [{ user: 'a', count: 1 }]))
  t.throws(() => store.commit('c', 5, records([2, 2, 2]), [{ user: 'a', count: 1 }]), /not at seq 5/)
  t.throws(() => store.commit('c', 1, records([2, 2, 2], [3, 3, 3]), [{ user: 'a', count: 1 }]), /authorship/)
  t.equal(store.get('c')?.seq, 1)
  t.same(store.changesAfter('c', 0, 10), records([1, 1, 1]), 'rolled back')
})

t.test('snapshots: the newest is kept', async (t) => {
  const { store } = setup(t)
  t.equal(store.latestSnapshot('c'), undefined)
  store.saveSnapshot('c', 5, Buffer.from('five'))
  store.saveSnapshot('c', 9, Buffer.from('nine'))
  t.same(store.latestSnapshot('c'), { seq: 9, pixels: Buffer.from('nine') })
  t.same(store.list().map((r) => r.id), ['c'])
})

t.test('state: frozen and palette stored; reset starts a new epoch at the seq with a blank snapshot; pixelAt sees the epoch only', async (t) => {
  const { store } = setup(t)
  t.match(store.get('c'), { frozen: false, palette: null, epochSeq: 0 })
  t.ok(store.setFrozen('c', true))
  t.ok(store.setPalette('c', [0xff0000, 0x00ff00]))
  t.match(store.get('c'), { frozen: true, palette: [0xff0000, 0x00ff00] })
  t.notOk(store.setFrozen('nope', true))
  store.append('c', records([1, 1, 0xff0000], [2, 2, 0xff0000]), [{ user: 'a', count: 2 }])
  t.same(store.reset('c', 'e2', Buffer.from('blank')), { seq: 2 })
  t.match(store.get('c'), { epoch: 'e2', epochSeq: 2, seq: 2 })
  t.same(store.latestSnapshot('c'), { seq: 2, pixels: Buffer.from('blank') })
  t.equal(store.pixelAt('c', 1, 1), undefined, 'the old epoch\'s change is history, not the pixel now')
  t.equal(store.changesAfter('c', 0, 10).length, 14, 'the old epoch\'s log is kept')
  t.equal(store.reset('nope', 'e', Buffer.alloc(0)), undefined)
})

t.test('remove hides the canvas at once; purge deletes its log in bounded steps, then the row', async (t) => {
  const { db, store } = setup(t)
  const px: Array<[number, number, number]> = []
  for (let i = 0; i < 25; i++) px.push([i % 10, Math.floor(i / 10), i])
  store.append('c', records(...px), [{ user: 'a', count: 25 }])
  store.saveSnapshot('c', 25, Buffer.from('snap'))
  t.ok(store.remove('c'))
  t.notOk(store.remove('c'), 'twice: no such canvas')
  t.equal(store.get('c'), undefined)
  t.same(store.list(), [])
  t.same(store.deleting(), ['c'], 'its purge is pending (resumed at boot)')
  t.equal(store.latestSnapshot('c'), undefined)
  const left = () => (db.prepare("SELECT count(*) FROM change_log WHERE canvas = 'c'").pluck().get() as number)
  t.throws(() => store.insert({ id: 'c', width: 1, height: 1, epoch: 'x', seq: 0, createdAt: 1 }), { code: 'SQLITE_CONSTRAINT_PRIMARYKEY' }, 'the id is taken until purged')
  t.equal(store.purge('c', 10), false)
  t.equal(left(), 15)
  t.equal(store.purge('c', 10), false)
  t.equal(store.purge('c', 10), false)
  t.equal(left(), 0)
  t.equal(store.purge('c', 10), true, 'then the row')
  t.same(store.deleting(), [])
  store.insert({ id: 'c', width: 1, height: 1, epoch: 'x', seq: 0, createdAt: 1 })
  t.match(store.get('c'), { width: 1, seq: 0 })
})
