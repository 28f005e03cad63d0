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

t.test('painter names: each change keeps the name its painter had then; users keeps the latest', async (t) => {
  const { db, store } = setup(t)
  store.commit('c', 0, records([1, 1, 1], [2, 2, 2]), [{ user: 'a', name: 'Ann', count: 1 }, { user: 'b', count: 1 }], 1)
  t.equal(store.pixelAt('c', 1, 1)?.name, 'Ann')
  t.equal(store.pixelAt('c', 2, 2)?.name, null, 'no name given: none stored')
  store.commit('c', 2, records([3, 3, 3]), [{ user: 'a', name: 'Ann B.', count: 1 }], 2)
  t.equal(store.pixelAt('c', 3, 3)?.name, 'Ann B.')
  t.equal(store.pixelAt('c', 1, 1)?.name, 'Ann', 'a rename after drawing keeps the old name on old pixels')
  t.same(db.prepare('SELECT sub, name FROM users').all(), [{ sub: 'a', name: 'Ann B.' }], 'users: the latest name')
  store.commit('c', 3, records([4, 4, 4]), [{ user: 'a', name: 'Ann', count: 1 }], 3)
  t.equal(store.pixelAt('c', 4, 4)?.name, 'Ann', 'back to an old name')
  t.same(db.prepare('SELECT sub, name FROM users').all(), [{ sub: 'a', name: 'Ann' }], 'users follows a change back')
  t.same(db.prepare('SELECT id, sub, name FROM painter_names ORDER BY id').all(), [{ id: 1, sub: 'a', name: 'Ann' }, { id: 2, sub: 'a', name: 'Ann B.' }], 'each (sub, name) once')
  t.same(db.prepare('SELECT name_id AS id FROM change_log ORDER BY seq').all(), [{ id: 1 }, { id: null }, { id: 2 }, { id: 1 }])
  t.throws(() => store.commit('c', 0, records([5, 5, 5]), [{ user: 'z', name: 'Zed', count: 1 }], 3), 'a stale commit fails')
  t.same(db.prepare('SELECT sub FROM users').all(), [{ sub: 'a' }], 'a failed commit stores no name')
  t.same(db.prepare('SELECT count(*) AS n FROM painter_names').get(), { n: 2 }, 'nor interns one')
  // the id the failed commit was handed does not exist: it must not be remembered
  store.commit('c', 4, records([5, 5, 5]), [{ user: 'z', name: 'Zed', count: 1 }], 4)
  t.equal(store.pixelAt('c', 5, 5)?.name, 'Zed')
})

t.test('painter names: a commit inside a caller\'s transaction that rolls back leaves no stale id behind', async (t) => {
  const { db, store } = setup(t)
  const outer = db.transaction(() => {
    store.append('c', records([1, 1, 1]), [{ user: 'a', name: 'Ann', count: 1 }], 1)
    throw new Error('the caller gives up')
  })
  t.throws(() => outer(), /gives up/)
  t.equal(store.get('c')?.seq, 0, 'rolled back with the caller')
  t.same(db.prepare('SELECT count(*) AS n FROM painter_names').get(), { n: 0 })
  // a remembered id from the rolled-back insert would fail the name_id reference here
  t.same(store.append('c', records([2, 2, 2]), [{ user: 'a', name: 'Ann', count: 1 }], 2), { from: 0, to: 1 })
  t.equal(store.pixelAt('c', 2, 2)?.name, 'Ann')
})

t.test('painter names: a name cache smaller than the painters (or none) changes no name', async (t) => {
  for (const nameCacheSize of [0, 1, 2]) {
    const db = openDatabase({ file: join(tempDir(t), 'c.db'), migrationsDir: MIGRATIONS_DIR })
    t.teardown(() => db.close())
    const store = createCanvasStore(db, { nameCacheSize })
    store.insert({ id: 'c', width: 10, height: 10, epoch: 'e1', seq: 0, createdAt: 1 })
    const who = [{ user: 'a', name: 'A' }, { user: 'b', name: 'B' }, { user: 'c', name: 'C' }]
    for (let i = 0; i < 9; i++) {
      if (i === 6) who[1].name = 'B2'
      store.append('c', records([i, 0, i]), [{ ...who[i % 3], count: 1 }], i)
    }
    const names = Array.from({ length: 9 }, (_v, i) => store.pixelAt('c', i, 0)?.name)
    t.same(names, ['A', 'B', 'C', 'A', 'B', 'C', 'A', 'B2', 'C'], `cache of ${nameCacheSize}: every change keeps its name`)
    t.same(db.prepare('SELECT count(*) AS n FROM painter_names').get(), { n: 4 }, `cache of ${nameCacheSize}: each pair once`)
  }
})

t.test('painter names: a change logged before migration 008 (no name_id) shows the sub\'s latest name', async (t) => {
  const { db, store } = setup(t)
  store.commit('c', 0, records([1, 1, 1]), [{ user: 'a', name: 'Ann', count: 1 }], 1)
  db.prepare('INSERT INTO change_log (canvas, seq, x, y, color, user, at) VALUES (?, ?, ?, ?, ?, ?, ?)').run('c', 2, 6, 6, 1, 'a', 1)
  db.prepare('INSERT INTO change_log (canvas, seq, x, y, color, user, at) VALUES (?, ?, ?, ?, ?, ?, ?)').run('c', 3, 7, 7, 1, 'nobody', 1)
  t.equal(store.pixelAt('c', 6, 6)?.name, 'Ann')
  t.equal(store.pixelAt('c', 7, 7)?.name, null)
})

t.test('a batch of any length is logged whole and in order, each change with its run\'s painter and name', async (t) => {
  const { db, store } = setup(t)
  // 1,234 changes (statements of 100, 10 and 1 rows), runs of 1 to 13 changes by 5 painters in turn, one without a name
  const n = 1234
  const px = Array.from({ length: n }, (_v, i): [number, number, number] => [i % 10, Math.floor(i / 10) % 10, i])
  const authors: Array<{ user: string, name?: string, count: number }> = []
  for (let i = 0, k = 0; i < n; k++) {
    const count = Math.min(1 + (k % 13), n - i)
    authors.push(k % 5 === 4 ? { user: 'p4', count } : { user: `p${k % 5}`, name: `P${k % 5}`, count })
    i += count
  }
  t.same(store.append('c', records(...px), authors, 7), { from: 0, to: n })
  t.same(store.changesAfter('c', 0, n + 1), records(...px), 'every change, in seq order')
  const rows = db.prepare('SELECT c.seq, c.user, n.name, c.at FROM change_log c LEFT JOIN painter_names n ON n.id = c.name_id ORDER BY c.seq').all()
  const want = authors.flatMap((a) => Array.from({ length: a.count }, () => ({ user: a.user, name: a.name ?? null, at: 7 })))
  t.same(rows, want.map((w, i) => ({ seq: i + 1, ...w })), 'each row: its painter and the name it had')
  t.equal(store.get('c')?.seq, n)
  // lengths around the statement sizes
  let seq = n
  for (const len of [1, 9, 10, 11, 99, 100, 101, 111]) {
    t.same(store.append('c', records(...px.slice(0, len)), [{ user: 'q', name: 'Q', count: len }]), { from: seq, to: seq + len })
    seq += len
  }
  t.same(store.changesAfter('c', n, 1000).length, (seq - n) * 7)
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
