import fp from 'fastify-plugin'
import { createSettings, type LiveSettings, type SettingsStore } from '../src/settings/settings.js'
import { createSettingsStore } from '../src/persistence/settings-store.js'
import { untilRedisAnswers } from './redis.js'

declare module 'fastify' {
  interface FastifyInstance {
    /** live settings (GET/PATCH /api/admin/settings): the pixel budget and connection caps */
    settings: LiveSettings
  }
}

/**
 * Live settings: stored values over the environment's, applied to the pixel
 * budget and the connection caps of this node. Stored in SQLite for a node
 * alone; in Redis in cluster mode (src/broker/cluster-state.ts), loaded
 * before the node serves and again after every reconnect to Redis.
 */
export default fp(async function settings (fastify) {
  const c = fastify.config
  const redis = fastify.redis
  let store: SettingsStore = createSettingsStore(fastify.db)
  if (redis !== null) {
    const { createRedisSettingsStore } = await import('../src/broker/cluster-state.js')
    const synced = createRedisSettingsStore(redis.command, c.REDIS_PREFIX)
    await untilRedisAnswers(fastify, 'loading the live settings', () => synced.sync())
    store = synced
  }
  const live = createSettings({
    defaults: {
      pixelRate: c.PIXEL_RATE,
      pixelBurst: c.PIXEL_BURST,
      guestPixelRatePerIp: c.GUEST_PIXEL_RATE_PER_IP,
      guestPixelBurstPerIp: c.GUEST_PIXEL_BURST_PER_IP,
      maxConnections: c.MAX_CONNECTIONS,
      maxConnectionsPerIp: c.MAX_CONNECTIONS_PER_IP,
      maxConnectionsPerUser: c.MAX_CONNECTIONS_PER_USER
    },
    store,
    broker: fastify.broker,
    fanout: fastify.fanout,
    log: fastify.log,
    apply (s) {
      fastify.pixelBudget.setLimits({ rate: s.pixelRate, burst: s.pixelBurst, guestIpRate: s.guestPixelRatePerIp, guestIpBurst: s.guestPixelBurstPerIp })
      fastify.connections.registry.setLimits({ maxConnections: s.maxConnections, maxPerIp: s.maxConnectionsPerIp, maxPerUser: s.maxConnectionsPerUser })
    }
  })
  fastify.decorate('settings', live)
  // Relays missed while Redis was away are made good by loading the whole set again.
  redis?.onReconnect(() => { live.reload().catch((err: Error) => fastify.log.warn({ err: err.message }, 'reloading the live settings failed; the next reconnect tries again')) })
  fastify.addHook('onClose', function stopSettings () { live.close() })
}, { name: 'settings', dependencies: ['config', 'redis', 'sqlite', 'hub', 'pixel-budget', 'connections'] })
