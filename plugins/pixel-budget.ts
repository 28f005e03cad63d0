import fp from 'fastify-plugin'
import { createPixelBudget, type PixelBudget } from '../src/rate/pixel-budget.js'

declare module 'fastify' {
  interface FastifyInstance {
    /** The pixel budget: per user (PIXEL_RATE, PIXEL_BURST), shared by all of a user's connections; guests also per IP. */
    pixelBudget: PixelBudget
  }
}

/** Full buckets carry no information: dropping them keeps memory to the users drawing (or cooling down) now. */
export const SWEEP_MS = 10_000

/**
 * The pixel budget of this process, in memory. Its own plugin so that a
 * cluster-wide one (Redis) can replace it behind the same decorator.
 */
export default fp(async function pixelBudget (fastify) {
  const c = fastify.config
  const budget = createPixelBudget({
    rate: c.PIXEL_RATE,
    burst: c.PIXEL_BURST,
    // Unset: a guest IP gets what one user gets, so a cooldown set with
    // PIXEL_RATE also holds for someone minting guest tokens.
    guestIpRate: c.GUEST_PIXEL_RATE_PER_IP ?? c.PIXEL_RATE,
    guestIpBurst: c.GUEST_PIXEL_BURST_PER_IP ?? c.PIXEL_BURST
  })
  const sweep = setInterval(() => budget.sweep(), SWEEP_MS)
  fastify.decorate('pixelBudget', budget)
  fastify.addHook('onClose', function stopSweep () { clearInterval(sweep) })
}, { name: 'pixel-budget', dependencies: ['config'] })
