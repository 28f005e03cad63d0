import fp from 'fastify-plugin'
import { createSettings, type LiveSettings } from '../src/settings/settings.js'
import { createSettingsStore } from '../src/persistence/settings-store.js'

declare module 'fastify' {
  interface FastifyInstance {
    /** live settings (GET/PATCH /api/admin/settings): the pixel budget and connection caps */
    settings: LiveSettings
  }
}

/** Live settings: stored values over the environment's, applied to the pixel budget and the connection caps of this node. */
export default fp(async function settings (fastify) {
  const c = fastify.config
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
    store: createSettingsStore(fastify.db),
    broker: fastify.broker,
    fanout: fastify.fanout,
    log: fastify.log,
    apply (s) {
      fastify.pixelBudget.setLimits({ rate: s.pixelRate, burst: s.pixelBurst, guestIpRate: s.guestPixelRatePerIp, guestIpBurst: s.guestPixelBurstPerIp })
      fastify.connections.registry.setLimits({ maxConnections: s.maxConnections, maxPerIp: s.maxConnectionsPerIp, maxPerUser: s.maxConnectionsPerUser })
    }
  })
  fastify.decorate('settings', live)
  fastify.addHook('onClose', function stopSettings () { live.close() })
}, { name: 'settings', dependencies: ['config', 'sqlite', 'hub', 'pixel-budget', 'connections'] })
