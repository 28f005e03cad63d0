// The per-user pixel budget across nodes (cluster mode): one token bucket
// per user in Redis, spent by every node, with ONE round trip per node per
// settle (CLUSTER_BUDGET_SETTLE_MS), whatever the number of pixels or users.
//
// Semantics (docs/architecture.md "Cluster mode"):
// - A draw is decided at once, on the node's own copy of the user's bucket
//   (the in-memory budget: take() stays synchronous, nothing waits on Redis).
// - Every settle the node sends what each user spent here since the last
//   one; the settle script refills the cluster bucket (rate, burst), takes
//   those pixels, stores it with an expiry at the time it would be full
//   again, answers the new levels and PUBLISHes them on the bus, so every
//   node sets its copy of those users' buckets to the cluster's level (minus
//   what it spent since and has not settled yet).
// - A connection's handshake loads its user's cluster level first, so a
//   hello's `limits` and the first draws on a node see the cluster's budget.
// - So a user painting on two nodes at once gets one budget: over any
//   window the pixels accepted are at most burst + rate × window plus what
//   the nodes let through within one settle before they heard of each
//   other; that excess is a debt the cluster bucket carries (it goes below
//   zero, at most to -burst) and every node makes the user wait it out.
// - Guests' per-IP buckets stay per node (contract §9.5: per-IP caps may).
// - Redis unreachable: draws are still decided on the nodes' copies (each
//   node then bounds the user alone); unsettled spends are kept and sent
//   when Redis is back, so they are paid for.
import type { Redis } from 'ioredis'
import type { Cluster } from '../broker/cluster.js'
import type { LocalPixelBudget, PixelBudget, PixelBudgetOptions, Spend, Spender } from './pixel-budget.js'

export interface ClusterBudgetOptions {
  local: LocalPixelBudget
  cluster: Cluster
  command: Redis
  prefix: string
  rate: number
  burst: number
  settleMs: number
  log: { warn (obj: object, msg?: string): void }
}

// KEYS: none (one key per user, named from the prefix); ARGV: prefix, rate,
// burst, bus channel, node, then user, pixels pairs. Returns user, level pairs.
const SETTLE = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local rate, burst = tonumber(ARGV[2]), tonumber(ARGV[3])
local out = {}
for i = 6, #ARGV, 2 do
  local k = ARGV[1] .. 'budget:' .. ARGV[i]
  local b = redis.call('HMGET', k, 't', 'a')
  local tokens = burst
  if b[1] then tokens = math.min(burst, tonumber(b[1]) + math.max(0, now - tonumber(b[2])) * rate / 1000) end
  tokens = math.max(-burst, tokens - tonumber(ARGV[i + 1]))
  redis.call('HSET', k, 't', tostring(tokens), 'a', string.format('%.0f', now))
  redis.call('PEXPIRE', k, math.ceil((burst - tokens) * 1000 / rate) + 1000)
  out[#out + 1] = ARGV[i]
  out[#out + 1] = tostring(tokens)
end
redis.call('PUBLISH', ARGV[4], cjson.encode({ k = 'budget', f = ARGV[5], d = out }))
return out
`

// KEYS: the user's bucket; ARGV: rate, burst. Returns the level now.
const LEVEL = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local b = redis.call('HMGET', KEYS[1], 't', 'a')
if not b[1] then return ARGV[2] end
return tostring(math.min(tonumber(ARGV[2]), tonumber(b[1]) + math.max(0, now - tonumber(b[2])) * tonumber(ARGV[1]) / 1000))
`

export function createClusterBudget (o: ClusterBudgetOptions): PixelBudget & { settle (): Promise<void>, stop (): void, readonly stats: { settles: number, settleFailures: number } } {
  const { local, cluster, command: cmd, prefix: P } = o
  /** pixels spent here since the last settle was sent */
  let spent = new Map<string, number>()
  /** pixels of the settle in flight */
  let inFlight = new Map<string, number>()
  let settling = false
  const stats = { settles: 0, settleFailures: 0 }

  cmd.defineCommand('pwBudgetSettle', { numberOfKeys: 0, lua: SETTLE })
  cmd.defineCommand('pwBudgetLevel', { numberOfKeys: 1, lua: LEVEL })
  const scripts = cmd as unknown as {
    pwBudgetSettle (...args: Array<string | number>): Promise<string[]>
    pwBudgetLevel (key: string, rate: number, burst: number): Promise<string>
  }

  /** This node's copy of the user's bucket: the cluster's level less what it spent and has not settled. */
  function adopt (user: string, level: number, now = Date.now()): void {
    local.setUser(user, level - (spent.get(user) ?? 0) - (inFlight.get(user) ?? 0), now)
  }

  function adoptAll (pairs: string[]): void {
    const now = Date.now()
    for (let i = 0; i + 1 < pairs.length; i += 2) adopt(pairs[i], Number(pairs[i + 1]), now)
  }

  cluster.on('budget', (d: string[]) => { if (Array.isArray(d)) adoptAll(d) })

  async function settle (): Promise<void> {
    if (settling || spent.size === 0) return
    settling = true
    inFlight = spent
    spent = new Map()
    const args: Array<string | number> = [P, limits.rate, limits.burst, `${P}bus`, cluster.nodeId]
    for (const [user, n] of inFlight) args.push(user, n)
    try {
      const levels = await scripts.pwBudgetSettle(...args)
      inFlight = new Map()
      adoptAll(levels)
      stats.settles++
    } catch (err) {
      stats.settleFailures++
      // Not taken by Redis: kept, and sent with the next settle.
      for (const [user, n] of inFlight) spent.set(user, (spent.get(user) ?? 0) + n)
      inFlight = new Map()
      if (stats.settleFailures % 50 === 1) o.log.warn({ err: (err as Error).message }, 'pixel budget settle failed; the spends are kept for the next one')
    } finally {
      settling = false
    }
  }

  /** The user rate and burst Redis refills with: live settings may change them (setLimits). */
  const limits = { rate: o.rate, burst: o.burst }

  const timer = setInterval(() => { settle().catch(() => {}) }, o.settleMs)
  timer.unref()

  return {
    stats,
    /** Live settings (each node applies the `settings` event): this node's buckets, and the rate and burst its settles send. */
    setLimits (next: PixelBudgetOptions): void {
      local.setLimits(next)
      limits.rate = next.rate
      limits.burst = next.burst
    },
    take (who: Spender, n: number): Spend {
      const res = local.take(who, n)
      if (res.ok) spent.set(who.user, (spent.get(who.user) ?? 0) + n)
      return res
    },
    state: (who) => local.state(who),
    async load (user: string): Promise<void> {
      adopt(user, Number(await scripts.pwBudgetLevel(`${P}budget:${user}`, limits.rate, limits.burst)))
    },
    settle,
    stop () { clearInterval(timer) }
  }
}
