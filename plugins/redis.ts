import fp from 'fastify-plugin'
import type { FastifyInstance } from 'fastify'
import type { RedisLink } from '../src/broker/redis-link.js'

declare module 'fastify' {
  interface FastifyInstance {
    /** The node's Redis connections in cluster mode (REDIS_URL); null for a node alone. */
    redis: RedisLink | null
  }
}

/**
 * Cluster mode's Redis connections (src/broker/redis-link.ts): a command
 * connection and a blocking reader, reconnecting with backoff, failing fast
 * while down. Closed last (onClose runs in reverse registration order, and
 * the broker and canvases that use it depend on it).
 */
export default fp(async function redis (fastify) {
  const c = fastify.config
  if (c.redisUrl === null) {
    fastify.decorate('redis', null)
    return
  }
  // Loaded in cluster mode only: a node alone boots without ioredis.
  const { createRedisLink } = await import('../src/broker/redis-link.js')
  const link = createRedisLink({
    url: c.redisUrl,
    commandTimeoutMs: c.REDIS_COMMAND_TIMEOUT_MS,
    connectTimeoutMs: c.REDIS_CONNECT_TIMEOUT_MS,
    retryMaxMs: c.REDIS_RETRY_MAX_MS,
    healthMs: c.REDIS_HEALTH_MS,
    nodeId: c.NODE_ID,
    log: fastify.log.child({ component: 'redis' })
  })
  fastify.decorate('redis', link)
  fastify.addHook('onClose', async function closeRedis () { await link.close() })
}, { name: 'redis', dependencies: ['config'] })

/**
 * Boot in cluster mode: run `fn` (a load from Redis) until it succeeds,
 * retrying while Redis does not answer, at most REDIS_BOOT_TIMEOUT_MS (then
 * the boot fails: a node must not serve without the cluster's state).
 */
export async function untilRedisAnswers (fastify: FastifyInstance, what: string, fn: () => Promise<void>): Promise<void> {
  const end = Date.now() + fastify.config.REDIS_BOOT_TIMEOUT_MS
  let logged = 0
  for (;;) {
    try {
      return await fn()
    } catch (err) {
      if (Date.now() > end) throw new Error(`${what}: Redis did not answer within REDIS_BOOT_TIMEOUT_MS (${fastify.config.REDIS_BOOT_TIMEOUT_MS} ms): ${(err as Error).message}`)
      if (Date.now() - logged > 5000) {
        fastify.log.warn({ err: (err as Error).message }, `waiting for Redis: ${what}`)
        logged = Date.now()
      }
      await new Promise((resolve) => setTimeout(resolve, 200))
    }
  }
}
