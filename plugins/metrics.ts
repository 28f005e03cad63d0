import fp from 'fastify-plugin'
import type { ClusterBroker } from '../src/broker/cluster-broker.js'
import fastifyMetrics from 'fastify-metrics'
import promClient from 'prom-client'
import type { FastifyInstance } from 'fastify'
import { isStreamTopic, streamOf } from '../src/broker/broker.js'
import { CLOSE_LABEL_VALUES, IN_KINDS, OUT_KINDS, LocalHistogram, createMeter, type HistogramName, type Meter } from '../src/metrics.js'

declare module 'fastify' {
  interface FastifyInstance {
    /** Where the domain counts and times things; exported at GET /metrics. */
    meter: Meter
  }
}

type Client = FastifyInstance['metrics']['client']
type Labelled = Iterable<readonly [string, number]>

// Seconds. A tick is 50 ms by default: its work should be a small part of it.
const TICK_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1]
const COMMIT_BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25]
// Arrival to frame written: up to one tick plus the tick's own work.
const DELAY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.25, 0.35, 0.5, 0.75, 1, 2.5]

const MISNAMED_DEFAULTS = ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total']

/** Documented handshake refusals (docs/protocol.md), present from the first scrape. */
const HANDSHAKE_REFUSALS = ['BAD_REQUEST', 'RATE_LIMITED', 'UNAVAILABLE', 'TOKEN_REQUIRED', 'INVALID_TOKEN', 'TOKEN_EXPIRED', 'ORIGIN_FORBIDDEN', 'CANVAS_NOT_FOUND', 'TOO_MANY_CONNECTIONS']
const DRAW_REFUSALS = ['OUT_OF_BOUNDS', 'TOO_LARGE', 'FORBIDDEN', 'RATE_LIMITED', 'UNAVAILABLE']

function seeded (seeds: readonly string[], counts: ReadonlyMap<string, number>): Labelled {
  const all = new Map(seeds.map((s) => [s, 0]))
  for (const [k, n] of counts) all.set(k, n)
  return all
}

const byIndex = (labels: readonly string[], values: number[]): Labelled => labels.map((l, i) => [l, values[i]] as const)

/**
 * GET /metrics: fastify-metrics (process defaults and per-route HTTP
 * timings) plus the pixelwire_ metrics. Counters mirror the plain numbers
 * the domain keeps in `fastify.meter.counts` and gauges read live state,
 * both at scrape time; only the histograms are fed as things happen.
 */
// Depends on rate-limit so that GET /metrics, added here, is limited like every route.
export default fp(async function metrics (fastify) {
  // CommonJS with `exports.default`: the plugin is the default import's `default`.
  // One registry per app, not prom-client's process-wide one: two servers
  // built in one process (the cluster tests' nodes) each report their own
  // numbers; with one shared registry every /metrics showed the gauges of
  // whichever app registered last. The endpoint merges it with the global
  // registry, which holds nothing of ours.
  const registry = new promClient.Registry()
  await fastify.register(fastifyMetrics.default, {
    endpoint: '/metrics',
    // the prom-client this registry is of (fastify-metrics would prefer another one if installed)
    promClient,
    clearRegisterOnInit: true,
    defaultMetrics: { enabled: true, register: registry },
    routeMetrics: {
      routeBlacklist: ['/metrics'],
      overrides: {
        histogram: { registers: [registry] },
        // The default name, http_request_summary_seconds, names its type: promtool refuses it.
        summary: { name: 'http_request_duration_quantiles_seconds', registers: [registry] }
      }
    }
  })
  const client = fastify.metrics.client
  // prom-client's gauges named like counters (promtool: "non-counter metrics
  // should not have _total suffix"); nodejs_active_{handles,requests,resources}
  // by type carry the same numbers.
  for (const name of MISNAMED_DEFAULTS) registry.removeSingleMetric(name)
  const histograms = defineHistograms(fastify.config.redisUrl !== null)
  // append is observed in cluster mode only, the only mode that defines it
  const meter = createMeter(function observe (name: HistogramName, seconds: number) { histograms[name]?.local.observe(seconds) })
  const ours = [...Object.values(histograms).filter((h) => h !== undefined), ...defineCounters(client, meter), ...defineGauges(client, fastify)]
  if (fastify.config.redisUrl !== null) ours.push(...defineClusterMetrics(client, fastify), ...defineClusterStateMetrics(client, fastify))
  // Built in the global registry (prom-client's default), moved to the app's.
  for (const m of ours) {
    client.register.removeSingleMetric((m as unknown as { name: string }).name)
    registry.registerMetric(m as Parameters<typeof registry.registerMetric>[0])
  }
  fastify.decorate('meter', meter)
}, { name: 'metrics', dependencies: ['rate-limit'] })

function defineHistograms (cluster: boolean) {
  const h = (name: string, help: string, buckets: number[]) => exportedHistogram(name, help, new LocalHistogram(buckets))
  return {
    tick: h('pixelwire_tick_duration_seconds', 'Duration of one beat of the broadcast tick (TICK_MS): commit, one slot of UPDATES, catch-up, presence', TICK_BUCKETS),
    commit: h('pixelwire_commit_duration_seconds', 'Duration of one canvas batch commit (one SQLite transaction)', COMMIT_BUCKETS),
    append: cluster ? h('pixelwire_redis_append_duration_seconds', 'Cluster mode: duration of one batch append to the cluster order in Redis (one script call: the round trip and the AOF write)', COMMIT_BUCKETS) : undefined,
    pixelDelay: h('pixelwire_pixel_delay_seconds', 'Delay of an accepted draw op from its arrival until the UPDATES frames with its last pixel were written to every client in sync (every slot of a stretched tick)', DELAY_BUCKETS)
  } satisfies Record<HistogramName, unknown>
}

/**
 * A LocalHistogram as a prom-client metric: the object a registry asks
 * `get()` of at scrape time, answering in the shape prom-client's own
 * Histogram gives (cumulative `_bucket` lines with `le`, then `_sum` and
 * `_count`), so the exposition is the same as before.
 */
function exportedHistogram (name: string, help: string, local: LocalHistogram) {
  const read = () => {
    const values: Array<{ metricName: string, labels: Record<string, number | string>, value: number }> = []
    let acc = 0
    local.bounds.forEach((le, i) => {
      acc += local.counts[i]
      values.push({ metricName: `${name}_bucket`, labels: { le }, value: acc })
    })
    values.push({ metricName: `${name}_bucket`, labels: { le: '+Inf' }, value: local.count })
    values.push({ metricName: `${name}_sum`, labels: {}, value: local.sum })
    values.push({ metricName: `${name}_count`, labels: {}, value: local.count })
    return { name, help, type: 'histogram', aggregator: 'sum', values }
  }
  return { name, help, type: 'histogram', aggregator: 'sum', local, get: async () => read() }
}

function defineCounters (client: Client, meter: Meter) {
  const c = meter.counts
  const plain = (name: string, help: string, read: () => number) => new client.Counter({
    name,
    help,
    collect () { this.reset(); this.inc(read()) }
  })
  const labelled = (name: string, help: string, label: string, read: () => Labelled) => new client.Counter({
    name,
    help,
    labelNames: [label],
    collect () {
      this.reset()
      for (const [value, n] of read()) this.inc({ [label]: value }, n)
    }
  })
  return [
    plain('pixelwire_connections_accepted_total', 'WebSocket connections accepted', () => c.connectionsAccepted),
    labelled('pixelwire_connections_rejected_total', 'WebSocket handshakes refused, by error code', 'reason', () => seeded(HANDSHAKE_REFUSALS, c.connectionsRejected)),
    labelled('pixelwire_connections_closed_total', 'WebSocket connections ended, by close code (undocumented codes as other)', 'code', () => seeded(CLOSE_LABEL_VALUES, c.closes)),
    labelled('pixelwire_messages_received_total', 'WebSocket messages received, by kind', 'kind', () => byIndex(IN_KINDS, c.messagesIn)),
    labelled('pixelwire_received_bytes_total', 'WebSocket message bytes received, by kind', 'kind', () => byIndex(IN_KINDS, c.bytesIn)),
    labelled('pixelwire_messages_sent_total', 'WebSocket messages sent, by kind', 'kind', () => byIndex(OUT_KINDS, c.messagesOut)),
    labelled('pixelwire_sent_bytes_total', 'WebSocket message bytes sent, by kind', 'kind', () => byIndex(OUT_KINDS, c.bytesOut)),
    plain('pixelwire_pixels_applied_total', 'Pixels committed and broadcast', () => c.pixelsApplied),
    labelled('pixelwire_pixels_rejected_total', 'Pixels of refused draw ops, by error code', 'reason', () => seeded(DRAW_REFUSALS, c.pixelsRejected)),
    plain('pixelwire_slow_consumer_closes_total', 'Connections closed with 4008 for not keeping up', () => c.slowConsumerCloses),
    plain('pixelwire_message_handler_errors_total', 'Inbound messages whose handling failed with an internal error (answered INTERNAL; error lines are throttled)', () => c.handlerErrors),
    labelled('pixelwire_resumes_total', 'Canvas joins, by how the client was brought up to date', 'mode', () => Object.entries(c.resumes))
  ]
}

/** The canvas service's own counters (CanvasService.stats). */
const SERVICE_STATS = {
  snapshotsSent: ['pixelwire_snapshots_sent_total', 'SNAPSHOT frames sent'],
  catchUpFrames: ['pixelwire_catchup_frames_total', 'UPDATES frames sent to one client to catch it up from the log'],
  lagged: ['pixelwire_lagging_clients_total', 'Times a client missed live frames (behind or over its send buffer) and was queued for catch-up'],
  commitFailures: ['pixelwire_commit_failures_total', 'Canvas batch commits that failed; their pixels were not applied']
} as const

/**
 * Live state, read at scrape time. The sources (canvases, connections, hub,
 * the WAL guard of sqlite) register after this plugin, which they depend on,
 * and before the server is ready to serve a scrape.
 */
function defineGauges (client: Client, fastify: FastifyInstance) {
  return [
    new client.Gauge({
      name: 'pixelwire_connections',
      help: 'Live WebSocket connections, by canvas',
      labelNames: ['canvas'],
      collect () {
        this.reset()
        const by = new Map(fastify.canvases.list().map((cv) => [cv.id, 0]))
        for (const conn of fastify.connections.registry.all()) by.set(conn.canvasId, (by.get(conn.canvasId) ?? 0) + 1)
        for (const [canvas, n] of by) this.set({ canvas }, n)
      }
    }),
    new client.Gauge({
      name: 'pixelwire_pending_send_bytes',
      help: 'Bytes queued in WebSocket send buffers, summed over connections',
      collect () {
        let sum = 0
        for (const conn of fastify.connections.registry.all()) sum += conn.bufferedBytes
        this.set(sum)
      }
    }),
    new client.Gauge({
      name: 'pixelwire_pending_pixels',
      help: 'Pixels accepted and not yet committed, by canvas',
      labelNames: ['canvas'],
      collect () {
        this.reset()
        for (const cv of fastify.canvases.list()) this.set({ canvas: cv.id }, fastify.canvases.pendingCount(cv.id))
      }
    }),
    ...(['snapshotsSent', 'catchUpFrames', 'lagged', 'commitFailures'] as const).map((key) => new client.Counter({
      name: SERVICE_STATS[key][0],
      help: SERVICE_STATS[key][1],
      collect () { this.reset(); this.inc(fastify.canvases.stats[key]) }
    })),
    new client.Gauge({
      name: 'pixelwire_sqlite_wal_bytes',
      help: 'Size of the SQLite write-ahead log file (kept under WAL_CHECKPOINT_BYTES unless a reader holds it)',
      collect () { this.set(fastify.wal.bytes()) }
    }),
    new client.Counter({
      name: 'pixelwire_sqlite_wal_checkpoints_total',
      help: 'Checkpoints asked for because the WAL was over WAL_CHECKPOINT_BYTES, by result (busy: a reader held it)',
      labelNames: ['result'],
      collect () {
        this.reset()
        for (const [result, n] of Object.entries(fastify.wal.checkpoints)) this.inc({ result }, n)
      }
    }),
    new client.Gauge({
      name: 'pixelwire_stream_subscriptions',
      help: 'Stream subscriptions, by namespace',
      labelNames: ['namespace'],
      collect () {
        this.reset()
        const by = new Map(Object.keys(fastify.config.namespaces).map((ns) => [ns, 0]))
        for (const topic of fastify.hub.topics()) {
          if (!isStreamTopic(topic)) continue
          const name = streamOf(topic)
          const ns = name.slice(0, name.indexOf(':'))
          by.set(ns, (by.get(ns) ?? 0) + fastify.hub.count(topic))
        }
        for (const [namespace, n] of by) this.set({ namespace }, n)
      }
    })
  ]
}

const ORDER_COUNTERS = [
  ['appends', 'pixelwire_redis_appends_total', 'Cluster mode: batches this node appended to the cluster order'],
  ['appendFailures', 'pixelwire_redis_append_failures_total', 'Cluster mode: appends that failed (Redis unreachable, timed out, fenced); their draws were answered UNAVAILABLE'],
  ['entriesRead', 'pixelwire_redis_entries_applied_total', 'Cluster mode: batches of the cluster order this node stored in its log and applied'],
  ['gapsDetected', 'pixelwire_redis_gaps_detected_total', 'Cluster mode: times this node found the stream no longer continuing its log (it was away longer than the stream keeps entries)'],
  ['gapsFilled', 'pixelwire_redis_gaps_filled_total', 'Cluster mode: gaps filled by installing the cluster snapshot at boot']
] as const

/** Cluster mode only (REDIS_URL): this node's view of Redis; plugins/redis.ts and broker.ts decorate before any scrape. */
function defineClusterMetrics (client: Client, fastify: FastifyInstance) {
  const link = () => fastify.redis!
  const order = () => fastify.clusterBroker!.sequencer
  return [
    new client.Gauge({
      name: 'pixelwire_redis_up',
      help: 'Whether this node can use Redis now (both connections ready and the last ping answered): 1 or 0',
      collect () { this.set(link().up ? 1 : 0) }
    }),
    new client.Counter({
      name: 'pixelwire_redis_reconnects_total',
      help: 'Redis connections re-established after a loss (command and blocking reader counted apart)',
      collect () { this.reset(); this.inc(link().stats.reconnects) }
    }),
    new client.Counter({
      name: 'pixelwire_redis_ping_failures_total',
      help: 'Health pings to Redis (every REDIS_HEALTH_MS) that failed or timed out',
      collect () { this.reset(); this.inc(link().stats.pingFailures) }
    }),
    ...ORDER_COUNTERS.map(([key, name, help]) => new client.Counter({
      name,
      help,
      collect () { this.reset(); this.inc(order().stats[key]) }
    })),
    new client.Gauge({
      name: 'pixelwire_redis_data_lost',
      help: 'Cluster mode: 1 when Redis no longer holds the order this node followed (came back empty, another cluster, a counter below this node\'s seq): draws are refused until an operator acts',
      collect () { this.set(order().stats.dataLost) }
    }),
    new client.Gauge({
      name: 'pixelwire_redis_stream_lag',
      help: 'Cluster mode: changes (seqs) of the cluster order this node has not stored and applied yet, by canvas (sampled every second)',
      labelNames: ['canvas'],
      collect () {
        this.reset()
        for (const [canvas, n] of order().lag()) this.set({ canvas }, n)
      }
    })
  ]
}

/**
 * Cluster mode's shared state (src/broker/cluster.ts, redis-streams.ts,
 * src/rate/cluster-budget.ts). Read at scrape time: the cluster, broker and
 * budget plugins load after this one.
 */
function defineClusterStateMetrics (client: Client, fastify: FastifyInstance) {
  const cluster = () => fastify.cluster
  const streams = () => (fastify.broker as Partial<ClusterBroker>).streams
  const budget = () => (fastify.pixelBudget as { stats?: { settles: number, settleFailures: number } }).stats
  const counter = (name: string, help: string, read: () => number | undefined) => new client.Counter({
    name,
    help,
    collect () { this.reset(); this.inc(read() ?? 0) }
  })
  return [
    new client.Gauge({
      name: 'pixelwire_cluster_nodes',
      help: 'Live nodes of the cluster as this node last saw them (itself included), from the heartbeats in Redis',
      collect () { this.set(cluster()?.live.size ?? 0) }
    }),
    counter('pixelwire_cluster_heartbeat_failures_total', 'Heartbeats (membership and connection counts, every CLUSTER_HEARTBEAT_MS) Redis did not take', () => cluster()?.stats.heartbeatFailures),
    counter('pixelwire_cluster_bus_dropped_total', 'Messages between nodes (pub/sub) not sent or not readable: presence, cursors and broadcast parts lost', () => cluster()?.stats.busDropped),
    counter('pixelwire_cluster_requests_partial_total', 'Requests to the other nodes (delivered counts, connection lists, kicks) answered by fewer nodes than received them within CLUSTER_REPLY_TIMEOUT_MS', () => cluster()?.stats.requestsPartial),
    new client.Gauge({
      name: 'pixelwire_cluster_streams_followed',
      help: 'JSON streams this node reads from Redis (the ones with subscribers here)',
      collect () { this.set(streams()?.followed ?? 0) }
    }),
    counter('pixelwire_cluster_stream_gaps_total', 'Stream messages trimmed from Redis before this node read them (its subscribers missed them)', () => streams()?.stats.gaps),
    counter('pixelwire_cluster_stream_read_failures_total', 'Blocking stream reads from Redis that failed (retried)', () => streams()?.stats.readFailures),
    counter('pixelwire_cluster_budget_settles_total', 'Pixel budget settles with Redis (one round trip for every user who drew here since the last)', () => budget()?.settles),
    counter('pixelwire_cluster_budget_settle_failures_total', 'Pixel budget settles Redis did not take (the spends are kept for the next one)', () => budget()?.settleFailures)
  ]
}
