import { join } from 'node:path'
import fp from 'fastify-plugin'
import { openDatabase, type Db } from '../src/persistence/db.js'
import { createCanvasStore, type CanvasStore } from '../src/persistence/canvas-store.js'
import { MIGRATIONS_DIR } from '../src/paths.js'

declare module 'fastify' {
  interface FastifyInstance {
    db: Db
    canvasStore: CanvasStore
  }
}

/** SQLite persistence: the database file in DATA_DIR, migrated at boot. */
export default fp(async function sqlite (fastify) {
  const file = join(fastify.config.DATA_DIR, 'pixelwire.db')
  const db = openDatabase({ file, migrationsDir: MIGRATIONS_DIR, busyTimeoutMs: fastify.config.DB_BUSY_TIMEOUT_MS })
  fastify.decorate('db', db)
  fastify.decorate('canvasStore', createCanvasStore(db))
  fastify.log.info({ file }, 'database open')

  // Registered before canvases, so it runs after their final flush.
  fastify.addHook('onClose', function closeDatabase () {
    if (!db.open) return // closed under us (a fault): nothing left to checkpoint
    db.pragma('wal_checkpoint(TRUNCATE)')
    db.close()
  })
}, { name: 'sqlite', dependencies: ['config', 'data-dir-lock'] })
