import fp from 'fastify-plugin'
import { createTokenBuckets, type PixelBudget } from '../src/rate/token-bucket.js'

declare module 'fastify' {
  interface FastifyInstance {
    /** The per-user pixel budget (PIXEL_RATE, PIXEL_BURST), shared by all of a user's connections. */
    pixelBudget: PixelBudget
  }
}

/** Full buckets carry no information: dropping them keeps memory to the users drawing now. */
export const SWEEP_MS = 10_000

/**
 * The pixel budget of this process, in memory. Its own plugin so that a
 * cluster-wide one (Redis) can replace it behind the same decorator.
 */
export default fp(async function pixelBudget (fastify) {
  const buckets = createTokenBuckets({ rate: fastify.config.PIXEL_RATE, burst: fastify.config.PIXEL_BURST })
  const sweep = setInterval(() => buckets.sweep(), SWEEP_MS)
  fastify.decorate('pixelBudget', buckets)
  fastify.addHook('onClose', function stopSweep () { clearInterval(sweep) })
}, { name: 'pixel-budget', dependencies: ['config'] })
