import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { migrate, openDatabase, readMigrations } from '../../../src/persistence/db.js'
import { MIGRATIONS_DIR } from '../../../src/paths.js'
import { tempDir } from '../../helper.js'

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
