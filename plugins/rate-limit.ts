import fp from 'fastify-plugin'
import type { FastifyInstance } from 'fastify'
import rateLimit from '@fastify/rate-limit'
import { HttpError } from '../src/http-error.js'

const MINUTE = 60_000

/** Per-route overrides of the global limit: `config: { rateLimit: fastify.restLimits.write }`. */
function restLimits (c: FastifyInstance['config']) {
  return {
    write: { max: c.API_WRITE_RATE_LIMIT, timeWindow: MINUTE },
    snapshot: { max: c.SNAPSHOT_RATE_LIMIT, timeWindow: MINUTE },
    timelapse: { max: c.TIMELAPSE_RATE_LIMIT, timeWindow: MINUTE },
    guest: { max: c.GUEST_TOKEN_RATE_LIMIT, timeWindow: MINUTE }
  }
}

declare module 'fastify' {
  interface FastifyInstance {
    restLimits: ReturnType<typeof restLimits>
  }
}

/**
 * @fastify/rate-limit on every route registered after this plugin (global),
 * per IP and per route: API_RATE_LIMIT a minute unless the route's
 * `config.rateLimit` says otherwise (writes, snapshots, guest tokens, the
 * WebSocket handshake). Plugins that add routes (metrics, swagger, static)
 * depend on this one so they load after it. Refusals are 429 with
 * Retry-After and the usual {"error","message"} body.
 */
export default fp(async function rateLimits (fastify) {
  const c = fastify.config
  fastify.decorate('restLimits', restLimits(c))
  await fastify.register(rateLimit, {
    global: true,
    max: c.API_RATE_LIMIT,
    timeWindow: MINUTE,
    // Bounded memory: at most this many keys (IPs) are tracked, LRU.
    cache: 10000,
    // Counted per IP and per route (method and pattern), so a browser's
    // hovering over pixel history cannot starve its own snapshot or health
    // probe. A peer that reset before the hooks ran has no address any more;
    // key it rather than let the limiter throw (a 500 and an error log).
    keyGenerator: (request) => `${request.ip ?? 'gone'} ${request.method} ${request.routeOptions.url ?? ''}`,
    errorResponseBuilder (_request, context) {
      return new HttpError(429, 'RATE_LIMITED', `rate limit exceeded, retry in ${context.after}`)
    }
  })
}, { name: 'rate-limit', dependencies: ['config', 'errors'] })
