import { join } from 'node:path'
import fp from 'fastify-plugin'
import { openDatabase, type Db } from '../src/persistence/db.js'
import { createCanvasStore, type CanvasStore } from '../src/persistence/canvas-store.js'
import { createWalGuard, type WalCheck, type WalGuard } from '../src/persistence/wal.js'
import { createStorageBreaker, type StorageBreaker } from '../src/persistence/storage-breaker.js'
import { MIGRATIONS_DIR } from '../src/paths.js'

declare module 'fastify' {
  interface FastifyInstance {
    db: Db
    canvasStore: CanvasStore
    /** the WAL's size and the checkpoints that keep it under WAL_CHECKPOINT_BYTES */
    wal: WalGuard
    /** open after a failed write: writers skip, draws are refused at intake, a probe retries with backoff */
    storage: StorageBreaker
  }
}

/** SQLite persistence: the database file in DATA_DIR, migrated at boot, its WAL kept bounded. */
export default fp(async function sqlite (fastify) {
  const c = fastify.config
  const file = join(c.DATA_DIR, 'pixelwire.db')
  const db = openDatabase({ file, migrationsDir: MIGRATIONS_DIR, busyTimeoutMs: c.DB_BUSY_TIMEOUT_MS, walLimitBytes: c.WAL_CHECKPOINT_BYTES })
  fastify.decorate('db', db)
  fastify.decorate('canvasStore', createCanvasStore(db, { nameCacheSize: c.NAME_CACHE_SIZE, snapshotKeep: c.SNAPSHOT_KEEP }))
  const wal = createWalGuard(db, { file, maxBytes: c.WAL_CHECKPOINT_BYTES, checkpointEveryMs: c.BEAT_CHECKPOINT_MS })
  fastify.decorate('wal', wal)
  fastify.log.info({ file }, 'database open')

  const storage = createStorageBreaker({
    // Take the write lock and give it back, without the busy wait: a probe
    // must never stall the event loop the way a blocked commit did. Inside,
    // a write that needs new pages (a table and a 16 KiB row, rolled back),
    // so a database that may not grow (max_page_count) fails the probe too,
    // not only a locked one.
    probe () {
      db.pragma('busy_timeout = 0')
      try {
        db.exec('BEGIN IMMEDIATE')
        try {
          db.exec('CREATE TABLE pixelwire_probe (v BLOB); INSERT INTO pixelwire_probe VALUES (zeroblob(16384))')
        } finally {
          db.exec('ROLLBACK')
        }
      } finally {
        db.pragma(`busy_timeout = ${c.DB_BUSY_TIMEOUT_MS}`)
      }
    },
    minBackoffMs: c.STORAGE_PROBE_MIN_MS,
    maxBackoffMs: c.STORAGE_PROBE_MAX_MS,
    onChange (error) {
      if (error !== null) fastify.log.error({ error, file }, 'database write failed: draws refused (UNAVAILABLE) and writes paused until a probe succeeds')
      else fastify.log.info({ file }, 'database writable again: draws accepted')
    }
  })
  fastify.decorate('storage', storage)

  // Logged when the state changes, not at every check: a reader may hold for long.
  let last: WalCheck = 'under'
  const timer = setInterval(function checkWal () {
    let now: WalCheck
    try {
      now = wal.check()
    } catch (err) {
      fastify.log.warn({ err }, 'WAL checkpoint failed')
      return
    }
    if (now === 'busy' && last !== 'busy') {
      fastify.log.warn({ walBytes: wal.bytes(), maxBytes: wal.maxBytes }, 'WAL over WAL_CHECKPOINT_BYTES: a reader holds it; it shrinks once the reader ends')
    } else if (now === 'truncated' && last === 'busy') {
      fastify.log.info({ walBytes: wal.bytes() }, 'WAL truncated after the reader ended')
    }
    last = now
  }, c.WAL_CHECK_MS)
  timer.unref()

  // Registered before canvases, so it runs after their final flush.
  fastify.addHook('onClose', function closeDatabase () {
    clearInterval(timer)
    storage.close()
    if (!db.open) return // closed under us (a fault): nothing left to checkpoint
    db.pragma('wal_checkpoint(TRUNCATE)')
    db.close()
  })
}, { name: 'sqlite', dependencies: ['config', 'data-dir-lock', 'metrics'] })
