// JSON stream topics in cluster mode: one order of offsets per stream,
// whatever node a message is published on, with history that outlives any
// node (Redis Streams with a bounded length).
//
// Keys (P = REDIS_PREFIX; {name} a hash tag, so a stream's two keys share a slot):
//   P stream:{name}      the Redis Stream; entry id `<offset>-0`, field `j`
//                        (the data as JSON; absent: a message without data)
//   P stream:{name}:n    the offset counter
//
// Append: one script INCRs the counter and XADDs the entry with that id
// (field `t`: Redis's time in ms), trimmed to the namespace's history
// (MAXLEN) and by age (historyMaxAge: entries older at the head are
// dropped, at most AGE_TRIM_SCAN per append), atomically: offsets are
// consecutive and ordered as Redis ran the scripts. A counter is created at
// the Redis time in microseconds, like the in-memory broker's, so a stream
// dropped (CLUSTER_STREAM_TTL_S idle) or a Redis that lost its data starts
// above every offset it handed out before: an old `since` is never replayed
// wrongly, it gets `recovered: false`.
//
// Delivery: a node follows the streams it has subscribers for: one blocking
// XREAD (its own connection) over all of them from the last offset it
// delivered, so every node delivers every stream's messages in offset order,
// its own included (the publishing node does not deliver before Redis
// ordered the message). A node keeps, per followed stream, the last
// `history` messages it delivered: `since` replays read that mirror
// synchronously in the same turn as the subscription, so a subscriber gets
// the replay and then exactly the messages after it, no gap, no duplicate.
// The mirror drops what is older than the namespace's historyMaxAge before
// it answers (by the entries' `t`, Redis's clock): a stream nobody appends
// to keeps its old entries in Redis until its TTL, but never replays them.
// A stream is followed from its first subscriber here (follow() loads the
// mirror from Redis first) to a sweep after its last one left.
import type { Redis } from 'ioredis'
import type { History, Publication, Topic } from './broker.js'
import { streamOf } from './broker.js'

export interface RedisStreamsOptions {
  command: Redis
  prefix: string
  /** how long one XREAD blocks (then it is asked again with the current streams) */
  blockMs: number
  /** messages read per stream per XREAD at most (bounds one read's memory) */
  readCount: number
  /** history TTL of an idle stream, seconds */
  ttlSeconds: number
  /** streams followed at most (MAX_STREAMS) */
  maxFollowed: number
  /** this node's fan-out: returns how many local connections were sent the message */
  deliver: (topic: Topic, pub: Publication) => number
  log: { warn (obj: object, msg?: string): void }
}

interface Held {
  /** the last offset delivered here (the XREAD position) */
  offset: number
  /** the last `history` messages delivered, with how many local connections got each and when Redis took them */
  publications: Array<{ pub: Publication, delivered: number, at?: number }>
  history: number
  /** historyMaxAge (ms; 0: none): older messages are not replayed */
  maxAgeMs: number
  /** subscribe() calls without their unsubscribe() */
  subscribers: number
  /** offset waiters (delivered counts for a `delivered` answer) */
  waiters: Array<{ offset: number, resolve: (n: number) => void }>
  /** the mirror misses messages between its start and `offset` (a gap was read) */
  gapAt: number
  /** when it was followed (ms): a sweep leaves a stream just followed alone, its subscriber is on its way */
  since: number
}

/** A stream followed this recently is never swept (its first subscribe runs right after follow resolves). */
const SWEEP_GRACE_MS = 5000

/** Expired entries examined (and dropped) at the head of a stream per append at most: bounds one script's work. */
const AGE_TRIM_SCAN = 100

// KEYS: stream, counter; ARGV: maxlen, json ('' and ARGV[3] = '0': no data), has data, ttl seconds, max age ms (0: none)
const APPEND = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
if redis.call('EXISTS', KEYS[2]) == 0 then
  redis.call('SET', KEYS[2], t[1] .. string.format('%06d', tonumber(t[2])))
end
local o = redis.call('INCR', KEYS[2])
-- not o .. '-0': Lua writes a number that large as 1.7e+15
local id = string.format('%.0f', o) .. '-0'
if ARGV[3] == '1' then
  redis.call('XADD', KEYS[1], 'MAXLEN', ARGV[1], id, 'j', ARGV[2], 't', now)
else
  redis.call('XADD', KEYS[1], 'MAXLEN', ARGV[1], id, 'n', '1', 't', now)
end
local age = tonumber(ARGV[5])
if age > 0 then
  -- The entry just added is never older than the cutoff: the scan stops at it at the latest.
  local cutoff = now - age
  local head = redis.call('XRANGE', KEYS[1], '-', '+', 'COUNT', ${AGE_TRIM_SCAN})
  local old = {}
  for _, e in ipairs(head) do
    local at = nil
    for i = 1, #e[2], 2 do if e[2][i] == 't' then at = tonumber(e[2][i + 1]) end end
    if at == nil or at >= cutoff then break end
    old[#old + 1] = e[1]
  end
  if #old > 0 then redis.call('XDEL', KEYS[1], unpack(old)) end
end
redis.call('EXPIRE', KEYS[1], ARGV[4])
redis.call('EXPIRE', KEYS[2], ARGV[4])
return o
`

// The counter, created (like APPEND does) when the stream has none: a
// stream is numbered from its first use, a subscription included.
// KEYS: counter; ARGV: ttl seconds
const COUNTER = `
if redis.call('EXISTS', KEYS[1]) == 0 then
  local t = redis.call('TIME')
  redis.call('SET', KEYS[1], t[1] .. string.format('%06d', tonumber(t[2])), 'EX', ARGV[1])
end
return redis.call('GET', KEYS[1])
`

type Entry = [id: string, fields: string[]]

function toPublication (name: string, [id, fields]: Entry): Publication {
  const offset = Number(id.slice(0, id.indexOf('-')))
  const j = fields[0] === 'j' ? fields[1] : undefined
  return { offset, event: { type: 'message', stream: name, json: j } }
}

/** When Redis took the entry (ms; its `t`), or undefined for an entry written before `t` was (never dropped by age). */
function entryTime ([, fields]: Entry): number | undefined {
  for (let i = 0; i < fields.length; i += 2) if (fields[i] === 't') return Number(fields[i + 1])
  return undefined
}

export function createRedisStreams (o: RedisStreamsOptions) {
  const { command: cmd, prefix: P } = o
  const reader: Redis = cmd.duplicate({ connectionName: `${cmd.options.connectionName ?? 'pixelwire'}:streams`, commandTimeout: undefined })
  reader.on('error', () => {}) // the link logs the outage once
  const followed = new Map<Topic, Held>()
  const loading = new Map<Topic, Promise<void>>()
  const stats = { gaps: 0, readFailures: 0 }
  let readerId: number | null = null
  let running = false
  let blocked = false
  const state = { stopped: false }

  cmd.defineCommand('pwStreamAppend', { numberOfKeys: 2, lua: APPEND })
  cmd.defineCommand('pwStreamCounter', { numberOfKeys: 1, lua: COUNTER })
  const scripts = cmd as unknown as {
    pwStreamAppend (k: string, c: string, ...a: Array<string | number>): Promise<number>
    pwStreamCounter (c: string, ttl: number): Promise<string>
  }

  const key = (topic: Topic): string => `${P}stream:{${streamOf(topic)}}`

  /** Hand a message to the fan-out and the mirror, in offset order. */
  /** Drop the mirror's messages past the stream's max age (from its head: they are in time order). */
  function dropExpired (h: Held, now = Date.now()): void {
    if (h.maxAgeMs <= 0) return
    let n = 0
    while (n < h.publications.length && (h.publications[n].at ?? Infinity) < now - h.maxAgeMs) n++
    if (n > 0) h.publications.splice(0, n)
  }

  function take (topic: Topic, h: Held, pub: Publication, at?: number): void {
    if (pub.offset <= h.offset) return // read twice (a follow raced a read): delivered already
    if (pub.offset !== h.offset + 1) {
      // Trimmed away while this node was behind: the messages between are lost to it.
      stats.gaps++
      h.gapAt = pub.offset - 1
      o.log.warn({ stream: streamOf(topic), from: h.offset, to: pub.offset }, 'stream gap: messages trimmed before this node read them')
    }
    h.offset = pub.offset
    const delivered = h.subscribers > 0 ? o.deliver(topic, pub) : 0
    h.publications.push({ pub, delivered, at })
    if (h.publications.length > h.history) h.publications.shift()
    while (h.waiters.length > 0 && h.waiters[0].offset <= h.offset) {
      const w = h.waiters.shift() as Held['waiters'][number]
      w.resolve(w.offset === h.offset ? delivered : countAt(h, w.offset))
    }
  }

  function countAt (h: Held, offset: number): number {
    return h.publications.find((p) => p.pub.offset === offset)?.delivered ?? 0
  }

  async function readLoop (): Promise<void> {
    if (running) return
    running = true
    try {
      while (!state.stopped && followed.size > 0) {
        const topics = [...followed.keys()]
        const ids = topics.map((t) => `${(followed.get(t) as Held).offset}-0`)
        let res: Array<[string, Entry[]]> | null
        try {
          readerId ??= await reader.client('ID') as number
          blocked = true
          res = await reader.xread('COUNT', o.readCount, 'BLOCK', o.blockMs, 'STREAMS', ...topics.map(key), ...ids) as Array<[string, Entry[]]> | null
        } catch (err) {
          stats.readFailures++
          readerId = null
          if (stats.readFailures % 20 === 1) o.log.warn({ err: (err as Error).message }, 'stream read failed; retrying')
          await new Promise((resolve) => setTimeout(resolve, Math.min(1000, o.blockMs)))
          continue
        } finally {
          blocked = false
        }
        if (res === null) continue
        for (const [k, entries] of res) {
          const i = topics.findIndex((t) => key(t) === k)
          const h = followed.get(topics[i])
          if (h === undefined) continue // unfollowed meanwhile
          for (const e of entries) take(topics[i], h, toPublication(streamOf(topics[i]), e), entryTime(e))
        }
      }
    } finally {
      running = false
    }
  }

  /** Wake a blocked XREAD so it reads again with the streams followed now. */
  function wake (): void {
    if (blocked && readerId !== null) cmd.client('UNBLOCK', readerId).catch(() => {})
  }

  /** Start following a stream (its mirror loaded from Redis); resolves once it is. */
  async function follow (topic: Topic, history: number, maxAgeMs = 0): Promise<void> {
    const held = followed.get(topic)
    if (held !== undefined) { held.maxAgeMs = maxAgeMs; return }
    let p = loading.get(topic)
    if (p === undefined) {
      p = (async () => {
        // The counter first (one connection runs them in this order): a
        // message appended between the two is in the tail, so the position
        // is never past a message this node has not got.
        const [counter, tail] = await Promise.all([
          scripts.pwStreamCounter(`${key(topic)}:n`, o.ttlSeconds),
          cmd.xrevrange(key(topic), '+', '-', 'COUNT', history) as Promise<Entry[]>
        ])
        if (followed.has(topic)) return
        const name = streamOf(topic)
        const publications = tail.reverse().map((e) => ({ pub: toPublication(name, e), delivered: 0, at: entryTime(e) }))
        // The counter, not the last entry: messages may have been trimmed, or the counter is new.
        const last = Math.max(publications.at(-1)?.pub.offset ?? 0, Number(counter))
        if (followed.size >= o.maxFollowed) sweep()
        if (followed.size >= o.maxFollowed) throw new Error(`more than ${o.maxFollowed} streams followed (MAX_STREAMS)`)
        followed.set(topic, { offset: last, publications, history, maxAgeMs, subscribers: 0, waiters: [], gapAt: 0, since: Date.now() })
        wake()
        readLoop().catch(() => {})
      })().finally(() => loading.delete(topic))
      loading.set(topic, p)
    }
    await p
  }

  /** Stop following streams nobody here subscribes to (periodically, and when MAX_STREAMS are followed). */
  function sweep (now = Date.now()): void {
    for (const [topic, h] of followed) {
      if (h.subscribers === 0 && h.waiters.length === 0 && now - h.since >= SWEEP_GRACE_MS) followed.delete(topic)
    }
  }

  return {
    stats,
    follow,
    sweep,
    isFollowed: (topic: Topic) => followed.has(topic),
    subscribe (topic: Topic): void {
      const h = followed.get(topic)
      if (h !== undefined) h.subscribers++
    },
    unsubscribe (topic: Topic): void {
      const h = followed.get(topic)
      if (h !== undefined && h.subscribers > 0) h.subscribers--
    },
    /** Append a message; resolves with its offset once Redis holds it (not yet delivered). */
    async append (topic: Topic, json: string | undefined, history: number, maxAgeMs = 0, ttlSeconds = o.ttlSeconds): Promise<number> {
      return await scripts.pwStreamAppend(key(topic), `${key(topic)}:n`, history, json ?? '', json === undefined ? '0' : '1', ttlSeconds, maxAgeMs)
    },
    /**
     * The history of a followed stream from this node's mirror: what it
     * delivered, so a replay joins the live messages exactly. Not followed:
     * nothing held (callers follow() first).
     */
    history (topic: Topic, since?: number): History {
      const h = followed.get(topic)
      if (h === undefined) return { offset: 0, recovered: since === undefined, publications: [] }
      if (since === undefined) return { offset: h.offset, recovered: true, publications: [] }
      dropExpired(h)
      const first = h.publications[0]?.pub.offset ?? h.offset + 1
      if (since > h.offset || since + 1 < first || since < h.gapAt) return { offset: h.offset, recovered: false, publications: [] }
      return { offset: h.offset, recovered: true, publications: h.publications.filter((p) => p.pub.offset > since).map((p) => p.pub) }
    },
    /**
     * The last `n` messages of a followed stream, oldest first, from this
     * node's mirror: loaded by XREVRANGE COUNT history when following began,
     * then kept by the reads, so it is XREVRANGE COUNT n joined exactly to
     * the live messages (n <= the namespace's history, which the mirror holds).
     */
    last (topic: Topic, n: number): History {
      const h = followed.get(topic)
      if (h === undefined) return { offset: 0, recovered: true, publications: [] }
      dropExpired(h)
      return { offset: h.offset, recovered: true, publications: h.publications.slice(Math.max(0, h.publications.length - n)).map((p) => p.pub) }
    },
    /** How many local connections got the message at `offset` (0 when this node does not follow the stream), waiting at most `ms` for it to be read. */
    async deliveredAt (topic: Topic, offset: number, ms: number): Promise<number> {
      const h = followed.get(topic)
      if (h === undefined) return 0
      if (h.offset >= offset) return countAt(h, offset)
      return await new Promise<number>((resolve) => {
        const w = {
          offset,
          resolve (n: number) {
            clearTimeout(t)
            resolve(n)
          }
        }
        // Not read by then: this node's count is left out (0), and the waiter goes.
        const t = setTimeout(() => {
          const i = h.waiters.indexOf(w)
          if (i >= 0) h.waiters.splice(i, 1)
          resolve(0)
        }, ms)
        // Waiters are in offset order: offsets are awaited after they were appended, mostly in order.
        const at = h.waiters.findIndex((x) => x.offset > offset)
        h.waiters.splice(at < 0 ? h.waiters.length : at, 0, w)
      })
    },
    * histories (): Iterable<{ topic: Topic, offset: number, held: number }> {
      for (const [topic, h] of followed) yield { topic, offset: h.offset, held: h.publications.length }
    },
    /** Messages this node has not read yet, per followed stream, summed (stream lag). */
    get followed () { return followed.size },
    close (): void {
      state.stopped = true
      for (const h of followed.values()) for (const w of h.waiters) w.resolve(0)
      followed.clear()
      reader.disconnect()
    }
  }
}

export type RedisStreams = ReturnType<typeof createRedisStreams>
