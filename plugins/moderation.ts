import fp from 'fastify-plugin'
import { GUEST_TOKEN_TTL_SEC } from '../src/auth/guest.js'
import { createAudit, type Audit } from '../src/moderation/audit.js'
import { createBans, type Bans } from '../src/moderation/bans.js'
import { createLocks, type Locks } from '../src/moderation/locks.js'
import { createAuditStore, createBanStore, createLockStore } from '../src/persistence/moderation-store.js'
import { untilRedisAnswers } from './redis.js'

declare module 'fastify' {
  interface FastifyInstance {
    bans: Bans
    locks: Locks
    audit: Audit
  }
}

const DAY_MS = 86_400_000

/** Moderation: bans, region locks and the audit log, on SQLite; their effects travel through the broker. */
export default fp(async function moderation (fastify) {
  const c = fastify.config
  const { broker, fanout } = fastify
  // A ban publishes the one disconnect event on the user's topic: delivered
  // by the connections plugin (onDisconnectOf), on every node.
  fastify.decorate('bans', createBans({ store: createBanStore(fastify.db), broker, guestIpKeepMs: GUEST_TOKEN_TTL_SEC * 1000 }))
  // Region locks: SQLite for a node alone; in cluster mode Redis holds them
  // (src/broker/cluster-state.ts), loaded before the node serves and again
  // after every reconnect (the relays missed meanwhile).
  const redis = fastify.redis
  const lockStore = redis === null
    ? createLockStore(fastify.db)
    : (await import('../src/broker/cluster-state.js')).createRedisLockStore(redis.command, c.REDIS_PREFIX)
  const locks = createLocks({ store: lockStore, broker, fanout, maxPerCanvas: c.MAX_LOCKS_PER_CANVAS })
  if (redis !== null) {
    await untilRedisAnswers(fastify, 'loading the region locks', () => locks.reload())
    redis.onReconnect(() => { locks.reload().catch((err: Error) => fastify.log.warn({ err: err.message }, 'reloading the region locks failed; the next reconnect tries again')) })
  }
  fastify.decorate('locks', locks)
  fastify.decorate('audit', createAudit({
    store: createAuditStore(fastify.db),
    maxEntries: c.AUDIT_MAX_ENTRIES,
    maxAgeMs: c.AUDIT_MAX_AGE_DAYS * DAY_MS,
    bodyBytes: c.AUDIT_BODY_BYTES
  }))
}, { name: 'moderation', dependencies: ['config', 'redis', 'sqlite', 'broker', 'hub'] })
