import type { FastifyPluginAsync } from 'fastify'

type Check = 'ok' | string

/** Liveness and readiness (contract §7). */
const health: FastifyPluginAsync = async function health (fastify) {
  const ping = fastify.db.prepare('SELECT 1')
  fastify.get('/', function live () {
    return { status: 'ok' }
  })

  /** 200 when every check is ok, else 503 naming the failing ones. */
  fastify.get('/ready', function ready (_request, reply) {
    const checks: Record<string, Check> = {
      database: databaseCheck(),
      storage: storageCheck(),
      eventLoopDelay: eventLoopCheck(),
      memory: memoryCheck(),
      draining: fastify.connections.draining ? 'server is draining' : 'ok',
      // cluster mode only: a node alone has no redis check at all
      ...(fastify.redis !== null ? { redis: fastify.broker.sequencer?.health() ?? fastify.redis.health() } : {})
    }
    const failing = Object.keys(checks).filter((k) => checks[k] !== 'ok')
    if (failing.length === 0) return { status: 'ok', checks }
    return reply.code(503).header('retry-after', '5').send({
      error: 'NOT_READY',
      message: `failing: ${failing.join(', ')}`,
      checks
    })
  })

  // Sampled once a second by @fastify/under-pressure (plugins/under-pressure.ts); 0 disables a limit.
  function eventLoopCheck (): Check {
    const max = fastify.config.MAX_EVENT_LOOP_DELAY_MS
    const delay = fastify.memoryUsage().eventLoopDelay
    return max > 0 && delay > max ? `event loop delay ${Math.round(delay)} ms over ${max} ms` : 'ok'
  }

  function memoryCheck (): Check {
    const { heapUsed, rssBytes } = fastify.memoryUsage()
    const { MAX_HEAP_USED_BYTES: maxHeap, MAX_RSS_BYTES: maxRss } = fastify.config
    if (maxHeap > 0 && heapUsed > maxHeap) return `heap used ${heapUsed} bytes over ${maxHeap}`
    if (maxRss > 0 && rssBytes > maxRss) return `rss ${rssBytes} bytes over ${maxRss}`
    return 'ok'
  }

  /**
   * Writable: the storage breaker (plugins/sqlite.ts) is closed. While it is
   * open draws are refused at intake and a probe retries with backoff.
   */
  function storageCheck (): Check {
    const error = fastify.storage.error
    return error === null ? 'ok' : `not writable: ${error} (probing, next in ${fastify.storage.retryAfterMs} ms)`
  }

  /** Readable: the database answers a query. */
  function databaseCheck (): Check {
    try {
      ping.get()
      return 'ok'
    } catch (err) {
      return (err as Error).message
    }
  }
}

export default health
