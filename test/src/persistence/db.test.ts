import { copyFileSync, mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { migrate, openDatabase, readMigrations } from '../../../src/persistence/db.js'
import { MIGRATIONS_DIR } from '../../../src/paths.js'
import { tempDir } from '../../helper.js'
import { createCanvasStore } from '../../../src/persistence/canvas-store.js'

t.test('opening migrates to the newest version with WAL on', async (t) => {
  const file = join(tempDir(t), 'sub', 'x.db')
  const db = openDatabase({ file, migrationsDir: MIGRATIONS_DIR })
  t.teardown(() => db.close())
  t.equal(db.pragma('user_version', { simple: true }), readMigrations(MIGRATIONS_DIR).length)
  t.equal(db.pragma('journal_mode', { simple: true }), 'wal')
  t.equal(db.pragma('foreign_keys', { simple: true }), 1)
  t.equal(migrate(db, MIGRATIONS_DIR), readMigrations(MIGRATIONS_DIR).length, 'migrating again is a no-op')
})

t.test('a database newer than the code is refused', async (t) => {
  const file = join(tempDir(t), 'x.db')
  openDatabase({ file, migrationsDir: MIGRATIONS_DIR }).pragma('user_version = 999')
  t.throws(() => openDatabase({ file, migrationsDir: MIGRATIONS_DIR }), /schema version 999 is newer/)
})

t.test('a failing migration leaves the database at the previous version', async (t) => {
  const dir = tempDir(t)
  const migrations = join(dir, 'm')
  mkdirSync(migrations)
  writeFileSync(join(migrations, '001-a.sql'), 'CREATE TABLE a (x INTEGER);')
  writeFileSync(join(migrations, '002-b.sql'), 'CREATE TABLE b (x INTEGER); INSERT INTO nope VALUES (1);')
  const file = join(dir, 'x.db')
  t.throws(() => openDatabase({ file, migrationsDir: migrations }), /no such table: nope/)
  writeFileSync(join(migrations, '002-b.sql'), 'CREATE TABLE b (x INTEGER);')
  const db = openDatabase({ file, migrationsDir: migrations })
  t.teardown(() => db.close())
  t.equal(db.pragma('user_version', { simple: true }), 2, 'b was created only by the fixed migration')
})

t.test('migration numbering must have no gaps', async (t) => {
  const dir = tempDir(t)
  writeFileSync(join(dir, '001-a.sql'), '')
  writeFileSync(join(dir, '003-c.sql'), '')
  t.throws(() => readMigrations(dir), /without gaps/)
})

t.test('003 on a database at 002 with history: the pixel index by row, the history intact', async (t) => {
  const dir = tempDir(t)
  const old = join(dir, 'm')
  mkdirSync(old)
  for (const m of readMigrations(MIGRATIONS_DIR).filter((m) => m.version <= 2)) copyFileSync(join(MIGRATIONS_DIR, m.name), join(old, m.name))
  const file = join(dir, 'x.db')
  const before = openDatabase({ file, migrationsDir: old })
  t.equal(before.pragma('user_version', { simple: true }), 2)
  // The history as a server of that schema wrote it (today's store needs today's schema).
  before.prepare('INSERT INTO canvases (id, width, height, epoch, seq, created_at) VALUES (?, ?, ?, ?, ?, ?)').run('main', 8, 8, 'e', 3, 1)
  const log = before.prepare('INSERT INTO change_log (canvas, seq, x, y, color, user, at) VALUES (?, ?, ?, ?, ?, ?, ?)')
  log.run('main', 1, 1, 2, 1, 'u', 5) // (1,2) colour 1
  log.run('main', 2, 2, 1, 2, 'u', 5) // (2,1) colour 2
  log.run('main', 3, 1, 2, 3, 'u', 5) // (1,2) again, colour 3
  before.close()

  const db = openDatabase({ file, migrationsDir: MIGRATIONS_DIR })
  t.teardown(() => db.close())
  t.equal(db.pragma('user_version', { simple: true }), readMigrations(MIGRATIONS_DIR).length)
  const cols = (db.prepare("SELECT name FROM pragma_index_info('change_log_pixel') ORDER BY seqno").all() as Array<{ name: string }>).map((r) => r.name)
  t.same(cols, ['canvas', 'y', 'x', 'seq'])
  const after = createCanvasStore(db)
  t.same(after.pixelAt('main', 1, 2), { seq: 3, x: 1, y: 2, color: 3, user: 'u', name: null, at: 5 }, 'the newest change at (1,2); no name stored before 004')
  t.same(after.pixelAt('main', 2, 1), { seq: 2, x: 2, y: 1, color: 2, user: 'u', name: null, at: 5 })
  t.equal(after.changesAfter('main', 0, 10).length, 3 * 7, 'the whole log is still there')
  const plan = (db.prepare('EXPLAIN QUERY PLAN SELECT seq FROM change_log WHERE canvas = ? AND x = ? AND y = ? ORDER BY seq DESC LIMIT 1').all('main', 1, 2) as Array<{ detail: string }>)[0].detail
  t.match(plan, /INDEX change_log_pixel \(canvas=\? AND y=\? AND x=\?\)/)
})
