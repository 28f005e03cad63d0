import fp from 'fastify-plugin'
import { createCanvasService, type CanvasService } from '../src/canvas/canvas-service.js'
import type { Connection } from '../src/connection/connection.js'

declare module 'fastify' {
  interface FastifyInstance { canvases: CanvasService<Connection> }
}

/** Canvases in memory, the per-tick group commit and broadcast. */
export default fp(async function canvases (fastify) {
  const c = fastify.config
  const service = createCanvasService({
    store: fastify.canvasStore,
    hub: fastify.hub,
    log: fastify.log,
    tickMs: c.TICK_MS,
    maxPendingPixels: c.MAX_PENDING_PIXELS,
    maxReplay: c.MAX_REPLAY,
    sendBufferBytes: c.SEND_BUFFER_BYTES,
    snapshotEvery: c.SNAPSHOT_EVERY,
    defaultCanvas: { id: 'main', width: c.DEFAULT_CANVAS_WIDTH, height: c.DEFAULT_CANVAS_HEIGHT }
  })
  service.load()
  service.start()
  fastify.decorate('canvases', service)
  // Commit whatever is still pending; sockets are already closed by then.
  fastify.addHook('onClose', function stopCanvases () { service.stop() })
}, { name: 'canvases', dependencies: ['config', 'sqlite', 'hub'] })
