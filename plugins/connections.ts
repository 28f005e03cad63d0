import fp from 'fastify-plugin'
import { createLifecycle, type Lifecycle } from '../src/connection/lifecycle.js'
import { onDisconnectOf } from '../src/hub/fanout.js'

declare module 'fastify' {
  interface FastifyInstance { connections: Lifecycle }
}

/** The registry of live connections, heartbeats and the one cleanup path. */
export default fp(async function connections (fastify) {
  const c = fastify.config
  const { cluster } = fastify
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
    frames: fastify.hub.frames,
    // cluster mode: ids unique across the cluster, so a kick or a cursor names one connection anywhere
    ...(cluster !== null ? { ids: cluster.nextId } : {})
  })
  lifecycle.onCleanup((conn) => fastify.canvases.detach(conn))
  lifecycle.onCleanup((conn) => fastify.presence.leave(conn))
  if (cluster !== null) {
    // The caps across nodes read this node's counts (heartbeat) and drop a closed connection's at once.
    cluster.countWith(() => ({ total: lifecycle.registry.size + lifecycle.registry.reserved, perUser: lifecycle.registry.perUser() }))
    lifecycle.onCleanup((conn) => cluster.released(conn.user.id))
  }

  // Kicks and bans: ONE disconnect event, on a connection's or a user's
  // topic, published on any node (the cluster broker relays it), closes the
  // open connections it reaches here; one delivery path (onDisconnectOf).
  fastify.fanout.on('disconnect', onDisconnectOf(fastify.hub))

  lifecycle.start()
  fastify.decorate('connections', lifecycle)
  // Normally closeAll() in the websocket drain stopped them already.
  fastify.addHook('onClose', function stopLifecycle () { lifecycle.stopTimers() })
}, { name: 'connections', dependencies: ['config', 'broker', 'hub', 'canvases', 'metrics'] })
