// A second process holding one SQLite read transaction open, as a backup or
// an analytics query would: `node --import tsx test/hold-read.ts <db file>`.
// Prints one line `holding <n>` once its snapshot is taken; on SIGTERM it
// ends the transaction, closes the database and exits 0. While it holds, the
// writer cannot reuse or shrink the WAL past its snapshot.
import Database from 'better-sqlite3'

const file = process.argv[2]
if (file === undefined) {
  console.error('usage: hold-read.ts <db file>')
  process.exit(2)
}
const db = new Database(file, { fileMustExist: true })
db.exec('BEGIN')
// The first read takes the snapshot (BEGIN alone is deferred).
const { n } = db.prepare('SELECT count(*) AS n FROM canvases').get() as { n: number }
console.log(`holding ${n}`)
process.once('SIGTERM', () => {
  db.exec('COMMIT')
  db.close()
  process.exit(0)
})
// Nothing else keeps the event loop alive; the signal handler does not.
setInterval(() => {}, 1 << 30)
