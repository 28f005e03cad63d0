import fp from 'fastify-plugin'
import type { Broker } from '../src/broker/broker.js'
import { createMemoryBroker } from '../src/broker/memory.js'
import { createStreamStore } from '../src/persistence/stream-store.js'

declare module 'fastify' {
  interface FastifyInstance { broker: Broker }
}

/** How often messages past their namespace's historyMaxAge are dropped, in memory and in SQLite. */
const EXPIRE_MS = 60_000

/**
 * The seam between nodes: every outgoing event is published here and comes
 * back to this node's fan-out (plugins/hub.ts). Without REDIS_URL a node is
 * alone and the broker lives in memory, its stream history kept durable in
 * SQLite (written every STREAM_FLUSH_MS in one transaction); the Redis broker
 * (docs/architecture.md) will be chosen here when REDIS_URL is set (until then
 * config refuses it).
 */
export default fp(async function broker (fastify) {
  const c = fastify.config
  const broker = createMemoryBroker({ maxTopics: c.MAX_STREAMS, store: createStreamStore(fastify.db), maxPending: c.STREAM_PENDING_MAX })
  fastify.decorate('broker', broker)

  // Logged when the state changes, not at every failed flush. While the
  // storage breaker is open no write is tried (it would wait the busy
  // timeout on the event loop): messages wait, bounded, for its probe.
  const storage = fastify.storage
  let failing = false
  function flush (): void {
    if (!storage.available) return
    try {
      if (broker.flush().written > 0) storage.succeeded()
      if (failing) fastify.log.info({ pending: broker.pending }, 'stream history written again')
      failing = false
    } catch (err) {
      storage.failed(err)
      if (!failing) fastify.log.error({ err, pending: broker.pending }, 'stream history write failed; kept in memory and retried')
      failing = true
    }
  }
  const flushTimer = setInterval(flush, c.STREAM_FLUSH_MS)
  flushTimer.unref() // the final flush is onClose's, not this timer's
  const expireTimer = setInterval(function expireStreams () {
    try {
      broker.expire()
    } catch (err) {
      fastify.log.warn({ err }, 'stream history expiry failed; retried later')
    }
  }, EXPIRE_MS)
  expireTimer.unref()
  // Registered after sqlite, so it runs before the database closes: what
  // was published until now is written.
  fastify.addHook('onClose', function flushStreams () {
    clearInterval(flushTimer)
    clearInterval(expireTimer)
    flush()
  })
}, { name: 'broker', dependencies: ['config', 'sqlite'] })
