import fp from 'fastify-plugin'
import { createLifecycle, type Lifecycle } from '../src/connection/lifecycle.js'

declare module 'fastify' {
  interface FastifyInstance { connections: Lifecycle }
}

/** The registry of live connections, heartbeats and the one cleanup path. */
export default fp(async function connections (fastify) {
  const c = fastify.config
  const lifecycle = createLifecycle({
    hub: fastify.hub,
    log: fastify.log,
    heartbeatMs: c.HEARTBEAT_MS,
    sendBufferBytes: c.SEND_BUFFER_BYTES,
    slowClientTimeoutMs: c.SLOW_CLIENT_TIMEOUT_MS,
    tokenGraceMs: c.TOKEN_GRACE_MS,
    badMessageWindowMs: c.BAD_MESSAGE_WINDOW_MS,
    rateAbuseWindowMs: c.RATE_ABUSE_WINDOW_MS,
    maxConnections: c.MAX_CONNECTIONS,
    maxPerIp: c.MAX_CONNECTIONS_PER_IP,
    maxPerUser: c.MAX_CONNECTIONS_PER_USER,
    unavailableCloseMs: c.UNAVAILABLE_CLOSE_MS,
    closeCodeLabels: c.CLOSE_CODE_LABELS,
    meter: fastify.meter,
    // every message written counts against the tick's frame budget: this app's counter
    frames: fastify.hub.frames
  })
  lifecycle.onCleanup((conn) => fastify.canvases.detach(conn))
  lifecycle.onCleanup((conn) => fastify.presence.leave(conn))
  lifecycle.start()
  fastify.decorate('connections', lifecycle)
  // Normally closeAll() in the websocket drain stopped them already.
  fastify.addHook('onClose', function stopLifecycle () { lifecycle.stopTimers() })
}, { name: 'connections', dependencies: ['config', 'hub', 'canvases', 'metrics'] })
