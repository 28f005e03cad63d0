import fp from 'fastify-plugin'
import { lockDataDir } from '../src/persistence/data-dir-lock.js'

/**
 * One server per DATA_DIR: the lock is taken before the database is opened
 * (sqlite depends on this plugin) and, registered first, released after the
 * database's final checkpoint. A second server throws here, naming the holder.
 */
export default fp(async function dataDirLock (fastify) {
  const lock = lockDataDir(fastify.config.DATA_DIR)
  fastify.log.debug({ file: lock.file }, 'DATA_DIR locked')
  fastify.addHook('onClose', function unlockDataDir () { lock.release() })
}, { name: 'data-dir-lock', dependencies: ['config'] })
