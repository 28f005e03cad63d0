import fp from 'fastify-plugin'
import { createCanvasService, type CanvasService } from '../src/canvas/canvas-service.js'
import { createPresence, type Presence } from '../src/canvas/presence.js'
import { framesWritten, type Connection } from '../src/connection/connection.js'

declare module 'fastify' {
  interface FastifyInstance {
    canvases: CanvasService<Connection>
    presence: Presence<Connection>
  }
}

/** Canvases in memory, the per-tick group commit and broadcast, presence and cursors. */
export default fp(async function canvases (fastify) {
  const c = fastify.config
  const presence = createPresence<Connection>({ hub: fastify.hub, maxList: c.PRESENCE_MAX_LIST, intervalMs: c.PRESENCE_MS })
  const service = createCanvasService({
    store: fastify.canvasStore,
    hub: fastify.hub,
    log: fastify.log,
    tickMs: c.TICK_MS,
    tickMaxMs: c.TICK_MAX_MS,
    frameBudget: c.TICK_FRAME_BUDGET,
    framesWritten: () => framesWritten.count,
    maxPendingPixels: c.MAX_PENDING_PIXELS,
    maxReplay: c.MAX_REPLAY,
    sendBufferBytes: c.SEND_BUFFER_BYTES,
    snapshotEvery: c.SNAPSHOT_EVERY,
    defaultCanvas: { id: 'main', width: c.DEFAULT_CANVAS_WIDTH, height: c.DEFAULT_CANVAS_HEIGHT },
    afterFlush: presence.flush,
    onSynced: presence.sendRoster,
    meter: fastify.meter
  })
  service.load()
  service.start()
  fastify.decorate('canvases', service)
  fastify.decorate('presence', presence)
  // Commit whatever is still pending; sockets are already closed by then.
  fastify.addHook('onClose', function stopCanvases () { service.stop() })
}, { name: 'canvases', dependencies: ['config', 'sqlite', 'hub', 'metrics'] })
