import fp from 'fastify-plugin'
import rateLimit from '@fastify/rate-limit'
import { HttpError } from '../src/http-error.js'

/**
 * @fastify/rate-limit, opt-in per route (`config.rateLimit`). Refusals are
 * 429 with Retry-After and the usual {"error","message"} body.
 */
export default fp(async function rateLimits (fastify) {
  await fastify.register(rateLimit, {
    global: false,
    // Bounded memory: at most this many keys (IPs) are tracked, LRU.
    cache: 10000,
    // A peer that reset before the hooks ran has no address any more; key it
    // rather than let the limiter throw (a 500 and an error log per reset).
    keyGenerator: (request) => request.ip ?? 'gone',
    errorResponseBuilder (_request, context) {
      return new HttpError(429, 'RATE_LIMITED', `rate limit exceeded, retry in ${context.after}`)
    }
  })
}, { name: 'rate-limit', dependencies: ['config'] })
