import fp from 'fastify-plugin'
import { createCanvasService, type CanvasService } from '../src/canvas/canvas-service.js'
import { createPresence, type Presence } from '../src/canvas/presence.js'
import type { Connection } from '../src/connection/connection.js'
import { createCanvasLog } from '../src/persistence/canvas-log.js'
import type { FastifyInstance } from 'fastify'
import { Disconnect } from '../src/connection/disconnect.js'

declare module 'fastify' {
  interface FastifyInstance {
    canvases: CanvasService<Connection>
    presence: Presence<Connection>
  }
}

/** Canvases in memory, the per-tick group commit (published through the broker) and delivery, presence and cursors. */
export default fp(async function canvases (fastify) {
  const c = fastify.config
  const { hub, broker, fanout } = fastify
  const cluster = fastify.clusterBroker
  // Cluster mode: this node's SQLite joins the cluster's order (epochs,
  // canvases, a snapshot when it is further behind than the stream) before
  // the rooms are built from it.
  if (cluster !== null) await joinCluster(fastify)
  const store = cluster === null
    ? fastify.canvasStore
    : {
        ...fastify.canvasStore,
        // Every stored snapshot is offered to Redis: the newest bounds how far the stream may be trimmed.
        saveSnapshot (canvas: string, seq: number, deflated: Buffer, at?: number) {
          fastify.canvasStore.saveSnapshot(canvas, seq, deflated, at)
          cluster.sequencer.offerSnapshot(canvas, seq, deflated)
        }
      }
  const presence = createPresence<Connection>({ hub, broker, fanout, maxList: c.PRESENCE_MAX_LIST, intervalMs: c.PRESENCE_MS })
  const service = createCanvasService({
    store,
    canvasLog: createCanvasLog(fastify.canvasStore),
    hub,
    broker,
    fanout,
    log: fastify.log,
    tickMs: c.TICK_MS,
    tickMaxMs: c.TICK_MAX_MS,
    frameBudget: c.TICK_FRAME_BUDGET,
    framesWritten: () => hub.frames.count,
    maxPendingPixels: c.MAX_PENDING_PIXELS,
    maxPendingSyncs: c.MAX_PENDING_SYNCS,
    maxReplay: c.MAX_REPLAY,
    sendBufferBytes: c.SEND_BUFFER_BYTES,
    snapshotEvery: c.SNAPSHOT_EVERY,
    defaultCanvas: { id: 'main', width: c.DEFAULT_CANVAS_WIDTH, height: c.DEFAULT_CANVAS_HEIGHT },
    afterFlush: presence.flush,
    // The WAL's checkpoint after the beat's frames (never between a commit and its frames), outside its send time.
    afterBeat: function checkpointAfterBeat () {
      try {
        fastify.wal.afterBeat()
      } catch (err) {
        fastify.log.warn({ err }, 'checkpoint after the beat failed; SQLite\'s own checkpoint remains')
      }
    },
    onSynced: presence.sendRoster,
    // connections registers after canvases (it depends on them); the first commit comes after both.
    afterCommit: (runs, ok) => fastify.connections.drawsCommitted(runs, ok),
    meter: fastify.meter,
    storage: fastify.storage,
    closeDeleted: (conn) => { conn.close(Disconnect.CANVAS_DELETED) }
  })
  service.load()
  // Canvases created on other nodes: their rows are stored by the order before it applies any of their entries.
  cluster?.follow((row) => { service.adopt(row) })
  service.start()
  fastify.decorate('canvases', service)
  fastify.decorate('presence', presence)
  // Commit whatever is still pending; sockets are already closed by then.
  fastify.addHook('onClose', function stopCanvases () { service.stop() })
}, { name: 'canvases', dependencies: ['config', 'sqlite', 'broker', 'hub', 'metrics'] })

/** Join the cluster's order, retrying while Redis does not answer, at most REDIS_BOOT_TIMEOUT_MS. */
async function joinCluster (fastify: FastifyInstance): Promise<void> {
  const c = fastify.config
  const end = Date.now() + c.REDIS_BOOT_TIMEOUT_MS
  let logged = 0
  for (;;) {
    try {
      await fastify.clusterBroker!.sequencer.join()
      return
    } catch (err) {
      if (Date.now() > end) throw new Error(`Redis did not answer within REDIS_BOOT_TIMEOUT_MS (${c.REDIS_BOOT_TIMEOUT_MS} ms): ${(err as Error).message}`)
      if (Date.now() - logged > 5000) {
        fastify.log.warn({ err: (err as Error).message }, 'waiting for Redis to join the cluster')
        logged = Date.now()
      }
      await new Promise((resolve) => setTimeout(resolve, 200))
    }
  }
}
