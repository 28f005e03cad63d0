// The cluster's shared state that is not the canvas order (cluster mode,
// REDIS_URL): who the live nodes are, the bus between them, cluster-unique
// connection ids, and the connection counts the caps read.
//
// Keys and channels (P = REDIS_PREFIX):
//   P nodes          sorted set: node id → the Redis time (ms) until which it
//                    counts as alive; renewed every CLUSTER_HEARTBEAT_MS by
//                    the heartbeat script, expiring CLUSTER_NODE_TTL_MS later
//   P conns:<node>   hash: `*` → the node's connections (reservations
//                    included), `u:<sub>` → those of one user; rewritten from
//                    the node's own registry by every heartbeat (so a lost
//                    increment heals within one beat) and expiring with it
//   P connid         counter handing out blocks of connection ids
//   P bus            pub/sub channel every node listens on (events, requests)
//   P bus:<node>     pub/sub channel of one node (replies to its requests)
//
// A dead node (kill -9, partition) stops renewing: after CLUSTER_NODE_TTL_MS
// it is out of `live`, its counts stop counting (the admission script only
// sums live nodes) and every node drops its presence entries (onNodeGone).
//
// The bus is Redis pub/sub: at most once. It carries only what may be lost
// when a connection to Redis drops (presence, cursors, broadcasts, the
// budget's level updates, requests whose originator times out); nothing
// ordered or durable goes through it (stream messages go through Redis
// Streams: redis-streams.ts; the canvas order through redis-order.ts).
//
// Requests: the originator PUBLISHes on `P bus`; PUBLISH answers how many
// nodes received it, so the originator knows how many replies to wait for
// (itself excluded) and waits at most CLUSTER_REPLY_TIMEOUT_MS. A node that
// does not answer in time is left out and counted (`partial` in the result).
import type { Redis } from 'ioredis'
import type { RedisLink } from './redis-link.js'

export interface ClusterLogger {
  info (obj: object, msg?: string): void
  warn (obj: object, msg?: string): void
  error (obj: object, msg?: string): void
}

export interface ClusterOptions {
  link: RedisLink
  prefix: string
  nodeId: string
  heartbeatMs: number
  nodeTtlMs: number
  replyTimeoutMs: number
  log: ClusterLogger
}

/** A node's own connection counts now: total (reservations included) and per user. */
export type CountSource = () => { total: number, perUser: Iterable<[string, number]> }

/** A message on the bus; `d` is the kind's payload. */
interface BusMessage { k: string, f: string, r?: number, d: unknown }

/** Handles a bus message of one kind from another node; a request's reply is what it returns (or resolves to). */
export type BusHandler = (data: any, from: string) => unknown

export interface Replies<R> {
  /** the replies that came, with the node that sent each */
  replies: Array<{ node: string, data: R }>
  /** nodes that got the request but did not answer in time */
  missing: number
}

/** Ids are u32 (CURSORS carry them); a block is taken at a time, the next one before this one runs out. */
const ID_BLOCK = 1024
const MAX_ID = 0xffffffff
/** Largest bus message a node accepts (a connection list reply is the largest kind). */
const MAX_BUS_BYTES = 64 * 1024 * 1024

// Renew this node and answer the live ones, by Redis's clock (nodes' clocks may differ).
// KEYS: nodes, conns:<me>; ARGV: me, ttlMs, total, then user, count pairs
const HEARTBEAT = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ttl = tonumber(ARGV[2])
redis.call('ZADD', KEYS[1], now + ttl, ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
redis.call('DEL', KEYS[2])
redis.call('HSET', KEYS[2], '*', ARGV[3])
for i = 4, #ARGV, 2 do redis.call('HSET', KEYS[2], 'u:' .. ARGV[i], ARGV[i + 1]) end
redis.call('PEXPIRE', KEYS[2], ttl)
return redis.call('ZRANGEBYSCORE', KEYS[1], now, '+inf')
`

// Admit one connection if the cluster's caps allow it: the other live nodes'
// counts from Redis plus this node's own (passed in, this one's reservation
// included); on success this node's counts in Redis are set to those at once,
// so a handshake on another node a moment later sees it (the next heartbeat
// rewrites them anyway). Set, not incremented: a heartbeat since the
// reservation already counted it, and so did any concurrent admission here.
// KEYS: nodes, conns:<me>; ARGV: prefix, me, user, myTotal, myUser, maxTotal, maxUser, ttlMs
// Returns 0 (admitted), 1 (global cap), 2 (per-user cap).
const ADMIT = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local total, user = tonumber(ARGV[4]), tonumber(ARGV[5])
for _, n in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], now, '+inf')) do
  if n ~= ARGV[2] then
    local c = redis.call('HMGET', ARGV[1] .. 'conns:' .. n, '*', 'u:' .. ARGV[3])
    total = total + (tonumber(c[1]) or 0)
    user = user + (tonumber(c[2]) or 0)
  end
end
if total > tonumber(ARGV[6]) then return 1 end
if user > tonumber(ARGV[7]) then return 2 end
redis.call('HSET', KEYS[2], '*', ARGV[4], 'u:' .. ARGV[3], ARGV[5])
redis.call('PEXPIRE', KEYS[2], ARGV[8])
return 0
`

// A block of ids [v - n + 1, v]; wraps to 1 past the u32 range (ids are reused
// only after ~4 billion connections, long after any of them closed).
const ID_BLOCK_SCRIPT = `
local v = redis.call('INCRBY', KEYS[1], ARGV[1])
if v > tonumber(ARGV[2]) then
  redis.call('SET', KEYS[1], ARGV[1])
  v = tonumber(ARGV[1])
end
return v
`

export type Admission = 'ok' | 'global' | 'user'

export function createCluster (o: ClusterOptions) {
  const { link, prefix: P, nodeId: me } = o
  const cmd = link.command
  // Pub/sub needs a connection of its own (a subscribed connection runs no
  // other command). ioredis resubscribes it after every reconnect.
  const sub: Redis = cmd.duplicate({ connectionName: `pixelwire:${me}:bus`, commandTimeout: undefined })
  const BUS = `${P}bus`
  const MINE = `${P}bus:${me}`
  const nodesKey = `${P}nodes`
  const connsKey = `${P}conns:${me}`
  const handlers = new Map<string, BusHandler>()
  const waiting = new Map<number, { replies: Array<{ node: string, data: unknown }>, expected: number, done: () => void }>()
  const goneListeners: Array<(node: string) => void> = []
  const joinListeners: Array<(node: string) => void> = []
  let counts: CountSource = () => ({ total: 0, perUser: [] })
  let live = new Set<string>()
  let nextReq = 1
  let timer: NodeJS.Timeout | null = null
  let closed = false
  const stats = { heartbeatFailures: 0, busDropped: 0, requestsPartial: 0 }

  // Connection ids: the current block and the next one, fetched ahead.
  let idNext = 0
  let idEnd = -1
  let ahead: { from: number, to: number } | null = null
  let fetching: Promise<void> | null = null

  cmd.defineCommand('pwHeartbeat', { numberOfKeys: 2, lua: HEARTBEAT })
  cmd.defineCommand('pwAdmit', { numberOfKeys: 2, lua: ADMIT })
  cmd.defineCommand('pwIdBlock', { numberOfKeys: 1, lua: ID_BLOCK_SCRIPT })
  const scripts = cmd as unknown as {
    pwHeartbeat (k1: string, k2: string, ...args: Array<string | number>): Promise<string[]>
    pwAdmit (k1: string, k2: string, ...args: Array<string | number>): Promise<number>
    pwIdBlock (k: string, n: number, max: number): Promise<number>
  }

  sub.on('ready', () => { sub.subscribe(BUS, MINE).catch((err: Error) => o.log.warn({ err: err.message }, 'bus subscribe failed')) })
  sub.on('error', () => {}) // the link logs Redis trouble once; this connection follows the same outage
  sub.on('messageBuffer', (_channel: Buffer, raw: Buffer) => {
    if (raw.length > MAX_BUS_BYTES) { stats.busDropped++; return }
    let m: BusMessage
    try {
      m = JSON.parse(raw.toString('utf8')) as BusMessage
    } catch {
      stats.busDropped++
      return
    }
    if (m.f === me) return // our own publication: handled locally before it was sent
    onBusMessage(m)
  })

  function onBusMessage (m: BusMessage): void {
    if (m.k === 'reply') {
      const w = waiting.get(m.r as number)
      if (w === undefined) return // too late: the request was answered without it
      w.replies.push({ node: m.f, data: m.d })
      if (w.replies.length >= w.expected) w.done()
      return
    }
    const h = handlers.get(m.k)
    if (h === undefined) return
    let out: unknown
    try {
      out = h(m.d, m.f)
    } catch (err) {
      o.log.error({ err, kind: m.k, from: m.f }, 'bus handler failed')
      return
    }
    if (m.r === undefined) return
    Promise.resolve(out).then((data) => send(`${P}bus:${m.f}`, { k: 'reply', f: me, r: m.r, d: data ?? null }))
      .catch((err: Error) => o.log.warn({ err: err.message, kind: m.k }, 'bus reply failed'))
  }

  async function send (channel: string, m: BusMessage): Promise<number> {
    return await cmd.publish(channel, JSON.stringify(m))
  }

  async function beat (): Promise<void> {
    const c = counts()
    const args: Array<string | number> = [me, o.nodeTtlMs, c.total]
    for (const [user, n] of c.perUser) args.push(user, n)
    try {
      const now = new Set(await scripts.pwHeartbeat(nodesKey, connsKey, ...args))
      const before = live
      live = now
      for (const n of before) if (!now.has(n) && n !== me) for (const fn of goneListeners) fn(n)
      for (const n of now) if (!before.has(n) && n !== me) for (const fn of joinListeners) fn(n)
    } catch (err) {
      stats.heartbeatFailures++
      // Redis unreachable: keep the last view; peers are dropped once Redis says so again.
      if (stats.heartbeatFailures % 10 === 1) o.log.warn({ err: (err as Error).message }, 'cluster heartbeat failed')
    }
  }

  async function fetchIds (): Promise<void> {
    fetching ??= (async () => {
      try {
        const to = await scripts.pwIdBlock(`${P}connid`, ID_BLOCK, MAX_ID)
        ahead = { from: to - ID_BLOCK + 1, to }
      } finally {
        fetching = null
      }
    })()
    await fetching
  }

  return {
    stats,
    /** This node's view of the live nodes (itself included once it has beaten). */
    get live (): ReadonlySet<string> { return live },
    nodeId: me,
    /** Where the heartbeat reads this node's connection counts (the registry). */
    countWith (fn: CountSource): void { counts = fn },
    /** Start the heartbeat; resolves after the first one was tried. */
    async start (): Promise<void> {
      timer = setInterval(() => { beat().catch(() => {}) }, o.heartbeatMs)
      timer.unref()
      await beat()
    },
    /** Run `fn` for every node that stops being alive (its presence and counts go). */
    onNodeGone (fn: (node: string) => void): void { goneListeners.push(fn) },
    /** Run `fn` for every node that becomes alive (after this one's first view). */
    onNodeJoined (fn: (node: string) => void): void { joinListeners.push(fn) },
    /** The one handler of a kind of bus message from other nodes. */
    on (kind: string, h: BusHandler): void {
      if (handlers.has(kind)) throw new Error(`the bus already has a ${kind} handler`)
      handlers.set(kind, h)
    },
    /** Fire and forget, to every other node (at most once). */
    emit (kind: string, data: unknown): void {
      send(BUS, { k: kind, f: me, d: data }).catch(() => { stats.busDropped++ })
    },
    /**
     * Ask every other node; resolves with the replies that came within
     * CLUSTER_REPLY_TIMEOUT_MS. Rejects when Redis did not take the request.
     */
    async request<R> (kind: string, data: unknown): Promise<Replies<R>> {
      const r = nextReq++
      const entry = { replies: [] as Array<{ node: string, data: unknown }>, expected: Infinity, done: () => {} }
      const finished = new Promise<void>((resolve) => { entry.done = resolve })
      waiting.set(r, entry)
      try {
        const receivers = await send(BUS, { k: kind, f: me, r, d: data })
        entry.expected = receivers - 1 // this node's bus connection received it too
        if (entry.replies.length < entry.expected) {
          let t: NodeJS.Timeout | undefined
          await Promise.race([finished, new Promise<void>((resolve) => { t = setTimeout(resolve, o.replyTimeoutMs) })])
          clearTimeout(t)
        }
        const missing = Math.max(0, entry.expected - entry.replies.length)
        if (missing > 0) stats.requestsPartial++
        return { replies: entry.replies as Array<{ node: string, data: R }>, missing }
      } finally {
        waiting.delete(r)
      }
    },
    /** Make sure a connection id is at hand (fetched from Redis when the block ran low). */
    async ensureIds (): Promise<void> {
      if (idNext > idEnd && ahead === null) await fetchIds()
    },
    /** The next cluster-unique id, or null when none is at hand (Redis unreachable since the block ran out). */
    nextId (): number | null {
      if (idNext > idEnd) {
        if (ahead === null) return null
        idNext = ahead.from
        idEnd = ahead.to
        ahead = null
      }
      const id = idNext++
      if (ahead === null && idEnd - idNext < ID_BLOCK / 2) fetchIds().catch(() => {})
      return id
    },
    /** The caps across live nodes, this node's counts (this connection's reservation included) given. */
    async admit (user: string, myTotal: number, myUser: number, maxTotal: number, maxUser: number): Promise<Admission> {
      const res = await scripts.pwAdmit(nodesKey, connsKey, P, me, user, myTotal, myUser, maxTotal, maxUser, o.nodeTtlMs)
      return res === 0 ? 'ok' : res === 1 ? 'global' : 'user'
    },
    /** A connection closed: its count goes at once (the next heartbeat rewrites the counts anyway). */
    released (user: string): void {
      cmd.multi().hincrby(connsKey, '*', -1).hincrby(connsKey, `u:${user}`, -1).exec().catch(() => {})
    },
    async close (): Promise<void> {
      closed = true
      if (timer !== null) clearInterval(timer)
      for (const w of waiting.values()) w.done()
      sub.disconnect()
      // Leave at once rather than after the TTL: this node's counts go with it.
      if (cmd.status === 'ready') await cmd.multi().zrem(nodesKey, me).del(connsKey).exec().catch(() => {})
    },
    get closed () { return closed }
  }
}

export type Cluster = ReturnType<typeof createCluster>
