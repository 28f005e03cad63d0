import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import fp from 'fastify-plugin'
import type { FastifyInstance } from 'fastify'
import type { Broker } from '../src/broker/broker.js'
import { createMemoryBroker } from '../src/broker/memory.js'
import type { RedisBroker } from '../src/broker/redis.js'
import { newEpoch } from '../src/canvas/canvas.js'
import type { Cluster } from '../src/broker/cluster.js'
import { createStreamStore } from '../src/persistence/stream-store.js'

declare module 'fastify' {
  interface FastifyInstance {
    broker: Broker
    /** cluster mode (REDIS_URL): the canvas order's broker, with its own calls (join, follow); null for a node alone */
    clusterBroker: RedisBroker | null
    /** cluster mode (REDIS_URL): the live nodes, the bus, ids and connection counts; null for a node alone */
    cluster: Cluster | null
  }
}

/** How long one stream XREAD blocks before it is asked again (a new stream wakes it at once). */
const STREAM_BLOCK_MS = 5000
/** Stream messages read per stream per XREAD at most. */
const STREAM_READ_COUNT = 1000
/** Streams nobody here subscribes to any more stop being followed at this pace. */
const STREAM_SWEEP_MS = 10_000

/** Exit code of a node that fell behind the cluster's stream at run time: restart it (it installs the snapshot at boot). */
export const EXIT_BEHIND_STREAM = 75
/** How often messages past their namespace's historyMaxAge are dropped, in memory and in SQLite. */
const EXPIRE_MS = 60_000

/**
 * The seam between nodes: every outgoing event is published here and comes
 * back to this node's fan-out (plugins/hub.ts). Without REDIS_URL a node is
 * alone and the broker lives in memory, its stream history kept durable in
 * SQLite (written every STREAM_FLUSH_MS in one transaction). With it, the
 * canvas order lives in Redis (src/broker/redis-order.ts), and the cluster
 * broker (src/broker/cluster-broker.ts) wraps that broker to carry presence,
 * cursors, broadcasts, disconnects, locks, settings and stream messages to
 * every node; stream history then lives in Redis Streams (their `last` is
 * XREVRANGE), and the SQLite HistoryStore is not used
 * (docs/architecture.md "Cluster mode").
 */
export default fp(async function broker (fastify) {
  const c = fastify.config
  const memory = { maxTopics: c.MAX_STREAMS }
  if (fastify.redis === null) {
    fastify.decorate('clusterBroker', null)
    fastify.decorate('cluster', null)
    alone(fastify)
    return
  }
  // Loaded in cluster mode only: a node alone boots as before.
  const [{ createRedisOrder }, { createRedisBroker }, { createCluster }, { createClusterBroker }] = await Promise.all([
    import('../src/broker/redis-order.js'),
    import('../src/broker/redis.js'),
    import('../src/broker/cluster.js'),
    import('../src/broker/cluster-broker.js')
  ])
  const store = fastify.canvasStore
  // The cluster this DATA_DIR has been part of: a Redis without it lost its data.
  const idFile = join(c.DATA_DIR, 'cluster-id')
  const log = fastify.log.child({ component: 'cluster', node: c.NODE_ID })
  const order = createRedisOrder({
    link: fastify.redis,
    prefix: c.REDIS_PREFIX,
    nodeId: c.NODE_ID,
    replica: store,
    clusterId: {
      read () {
        try {
          return readFileSync(idFile, 'utf8').trim() || null
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null
          throw err
        }
      },
      write (id) { writeFileSync(idFile, id + '\n') }
    },
    maxLen: c.REDIS_STREAM_MAXLEN,
    deletedTtlMs: c.CLUSTER_DELETED_TTL_S * 1000,
    blockMs: 1000,
    // One read holds at most this many batches, each at most half a send
    // buffer (the largest frame the service commits): about 16 MiB.
    readCount: Math.max(1, Math.min(1000, Math.floor(16 * 1024 * 1024 / (c.SEND_BUFFER_BYTES / 2)))),
    defaultCanvas: { id: 'main', width: c.DEFAULT_CANVAS_WIDTH, height: c.DEFAULT_CANVAS_HEIGHT },
    newEpoch,
    log,
    observeAppend: (seconds) => fastify.meter.observe('append', seconds),
    observeCommit: (seconds) => fastify.meter.observe('commit', seconds),
    onFatal (reason) {
      // Clients get 1001 from the drain and resume on another node; a
      // supervisor restarts this one, which installs the snapshot at boot.
      log.fatal({ reason, exitCode: EXIT_BEHIND_STREAM }, 'behind the cluster stream: shutting down to rebuild at the next boot')
      const exit = () => process.exit(EXIT_BEHIND_STREAM)
      setTimeout(exit, c.SHUTDOWN_TIMEOUT_MS).unref()
      fastify.close().then(exit, exit)
    }
  })
  const redisBroker = createRedisBroker(order, memory)
  const cluster = createCluster({
    link: fastify.redis,
    prefix: c.REDIS_PREFIX,
    nodeId: c.NODE_ID,
    heartbeatMs: c.CLUSTER_HEARTBEAT_MS,
    nodeTtlMs: c.CLUSTER_NODE_TTL_MS,
    replyTimeoutMs: c.CLUSTER_REPLY_TIMEOUT_MS,
    log
  })
  const broker = createClusterBroker({
    base: redisBroker,
    cluster,
    replyTimeoutMs: c.CLUSTER_REPLY_TIMEOUT_MS,
    streams: {
      command: fastify.redis.command,
      prefix: c.REDIS_PREFIX,
      blockMs: STREAM_BLOCK_MS,
      readCount: STREAM_READ_COUNT,
      ttlSeconds: c.CLUSTER_STREAM_TTL_S,
      maxFollowed: c.MAX_STREAMS,
      log
    }
  })
  const sweep = setInterval(() => broker.streams.sweep(), STREAM_SWEEP_MS)
  sweep.unref()
  // The other nodes' presence: once this node can deliver (every plugin
  // loaded), and again after Redis was away (events were lost meanwhile).
  const syncRosters = () => { broker.syncRosters().catch((err: Error) => log.warn({ err: err.message }, 'presence sync failed')) }
  fastify.addHook('onReady', async function joinCluster () {
    await cluster.start()
    syncRosters()
  })
  fastify.redis.onReconnect(syncRosters)
  fastify.decorate('broker', broker)
  fastify.decorate('clusterBroker', redisBroker)
  fastify.decorate('cluster', cluster)
  fastify.addHook('onClose', async function stopOrder () {
    clearInterval(sweep)
    broker.streams.close()
    await cluster.close()
    order.close()
  })
}, { name: 'broker', dependencies: ['config', 'redis', 'sqlite', 'metrics'] })

/** A node alone: the in-memory broker, its stream history durable in SQLite (HistoryStore). */
function alone (fastify: FastifyInstance): void {
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
}
