// A second process holding the SQLite write lock, as a migration script or a
// stuck tool would: `node --import tsx test/hold-write.ts <db file>`.
// Prints one line `holding` once it has the lock (BEGIN EXCLUSIVE); on
// SIGTERM it rolls back, closes the database and exits 0. While it holds, no
// other connection can write (in WAL mode readers still read).
import Database from 'better-sqlite3'

const file = process.argv[2]
if (file === undefined) {
  console.error('usage: hold-write.ts <db file>')
  process.exit(2)
}
const db = new Database(file, { fileMustExist: true, timeout: 10000 })
db.exec('BEGIN EXCLUSIVE')
console.log('holding')
process.once('SIGTERM', () => {
  db.exec('ROLLBACK')
  db.close()
  process.exit(0)
})
// Nothing else keeps the event loop alive; the signal handler does not.
setInterval(() => {}, 1 << 30)
