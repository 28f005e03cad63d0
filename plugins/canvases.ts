import fp from 'fastify-plugin'
import { createCanvasService, type CanvasService } from '../src/canvas/canvas-service.js'
import { createPresence, type Presence } from '../src/canvas/presence.js'
import type { Connection } from '../src/connection/connection.js'
import { createCanvasLog } from '../src/persistence/canvas-log.js'
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
  const presence = createPresence<Connection>({ hub, broker, fanout, maxList: c.PRESENCE_MAX_LIST, intervalMs: c.PRESENCE_MS })
  const service = createCanvasService({
    store: fastify.canvasStore,
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
  service.start()
  fastify.decorate('canvases', service)
  fastify.decorate('presence', presence)
  // Commit whatever is still pending; sockets are already closed by then.
  fastify.addHook('onClose', function stopCanvases () { service.stop() })
}, { name: 'canvases', dependencies: ['config', 'sqlite', 'broker', 'hub', 'metrics'] })
