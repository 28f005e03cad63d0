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
 * The pixel budget: in memory for a node alone; in cluster mode the same
 * in-memory buckets as this node's copy of one cluster-wide budget, settled
 * with Redis every CLUSTER_BUDGET_SETTLE_MS (src/rate/cluster-budget.ts).
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
  fastify.addHook('onClose', function stopSweep () { clearInterval(sweep) })
  const { cluster, redis } = fastify
  if (cluster === null || redis === null) {
    fastify.decorate('pixelBudget', budget)
    return
  }
  // Loaded in cluster mode only: a node alone boots as before.
  const { createClusterBudget } = await import('../src/rate/cluster-budget.js')
  const shared = createClusterBudget({
    local: budget,
    cluster,
    command: redis.command,
    prefix: c.REDIS_PREFIX,
    rate: c.PIXEL_RATE,
    burst: c.PIXEL_BURST,
    settleMs: c.CLUSTER_BUDGET_SETTLE_MS,
    log: fastify.log.child({ component: 'pixel-budget' })
  })
  fastify.decorate('pixelBudget', shared)
  // The last spends go to Redis before the node leaves (the Redis plugin closes after this one).
  fastify.addHook('onClose', async function settleLast () {
    shared.stop()
    await shared.settle()
  })
}, { name: 'pixel-budget', dependencies: ['config', 'broker'] })
