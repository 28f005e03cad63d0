// Named JSON streams (`namespace:name`) over the same hub as canvases.
//
// Each namespace has rules: who subscribes, who publishes over the socket,
// the largest message, a publish rate per connection, and how many messages
// a stream keeps for `since` replays. A message is serialized once and the
// same string goes to every subscriber.
//
// Offsets only grow, also across restarts: each stream's counter starts at
// the boot time in microseconds, so a `since` from before a restart is
// always below anything held now and gets `recovered: false`, never a wrong
// replay.
import type { Hub, Subscriber } from '../hub/hub.js'
import { protocolError, type ProtocolError } from '../protocol/errors.js'
import { STREAM_NAME } from '../protocol/messages.js'
import type { Role } from '../connection/connection.js'
import { createTokenBuckets, type TokenBuckets } from '../rate/token-bucket.js'
import { noopMeter, type Meter } from '../metrics.js'

export interface NamespaceRules {
  /** roles that may subscribe */
  subscribe: Role[]
  /** roles that may publish over the WebSocket (REST publishing is admin-only and always allowed) */
  publish: Role[]
  /** largest `data`, as JSON bytes */
  maxBytes: number
  /** publishes per second per user, and the burst */
  rate: number
  burst: number
  /** messages kept per stream for `since` replays */
  history: number
}

export const DEFAULT_NAMESPACES: Record<string, NamespaceRules> = {
  alerts: { subscribe: ['viewer', 'painter', 'admin'], publish: [], maxBytes: 4096, rate: 10, burst: 20, history: 100 },
  chat: { subscribe: ['viewer', 'painter', 'admin'], publish: ['painter', 'admin'], maxBytes: 1024, rate: 2, burst: 5, history: 100 }
}

export interface StreamClient extends Subscriber {
  readonly user: { readonly id: string, readonly name: string, readonly role: Role }
  /** `must`: a message that cannot be skipped, allowed more headroom */
  send (data: string, must?: boolean): boolean
  close (code: number, reason: string): void
}

export interface StreamsOptions<C extends StreamClient> {
  hub: Hub<C>
  namespaces: Record<string, NamespaceRules>
  maxSubscriptions: number
  /** streams held in memory at most; the least recently used idle one goes first */
  maxStreams: number
  /** called when a subscriber cannot take a message (its buffer is full) */
  onSlow: (client: C) => void
  now?: () => number
  /** slow subscribers handed to onSlow are counted here (default: nowhere) */
  meter?: Meter
}

interface Held { offset: number, frame: string }
interface Stream { name: string, offset: number, held: Held[] }

export const streamTopic = (name: string) => name // stream names are namespace:name; canvases use canvas:<id>

export type SubscribeResult =
  | { ok: true, offset: number, replay: string[], recovered?: boolean }
  | { ok: false, error: ProtocolError }

export function createStreams<C extends StreamClient> (opts: StreamsOptions<C>) {
  const { hub } = opts
  const now = opts.now ?? Date.now
  const counts = (opts.meter ?? noopMeter).counts
  const base = now() * 1000
  // A stream created again after its eviction starts above every offset an
  // evicted stream reached, so it never hands out an offset twice.
  let floor = base
  // Map order is insertion order: touching a stream moves it to the end (LRU).
  const streams = new Map<string, Stream>()
  const buckets = new Map<string, TokenBuckets>()
  for (const [ns, rules] of Object.entries(opts.namespaces)) buckets.set(ns, createTokenBuckets({ rate: rules.rate, burst: rules.burst }))

  function rulesOf (name: string): NamespaceRules | undefined {
    if (!STREAM_NAME.test(name)) return undefined
    const ns = name.slice(0, name.indexOf(':'))
    return Object.hasOwn(opts.namespaces, ns) ? opts.namespaces[ns] : undefined // not `constructor` from Object.prototype
  }

  function touch (name: string): Stream {
    let s = streams.get(name)
    if (s !== undefined) streams.delete(name)
    else s = { name, offset: floor, held: [] }
    streams.set(name, s)
    if (streams.size > opts.maxStreams) evictOne(name)
    return s
  }

  /** Drop the least recently used stream nobody is subscribed to, other than the one in use. */
  function evictOne (inUse: string): void {
    for (const [name, s] of streams) {
      if (name !== inUse && hub.count(streamTopic(name)) === 0) {
        floor = Math.max(floor, s.offset)
        streams.delete(name)
        return
      }
    }
  }

  function subscribe (client: C, name: string, since?: number): SubscribeResult {
    const rules = rulesOf(name)
    if (rules === undefined) return { ok: false, error: protocolError('UNKNOWN_STREAM', `no stream ${name}`) }
    if (!rules.subscribe.includes(client.user.role)) return { ok: false, error: protocolError('FORBIDDEN', `role ${client.user.role} may not subscribe to ${name}`) }
    const topics = hub.topicsOf(client.id)
    if (!topics.has(name) && [...topics].filter((t) => !t.startsWith('canvas:')).length >= opts.maxSubscriptions) {
      return { ok: false, error: protocolError('TOO_LARGE', `at most ${opts.maxSubscriptions} stream subscriptions`) }
    }
    const s = touch(name)
    hub.subscribe(client, streamTopic(name))
    if (since === undefined) return { ok: true, offset: s.offset, replay: [] }
    // Every message after `since` must still be held, or none is replayed.
    const first = s.held[0]?.offset ?? s.offset + 1
    if (since > s.offset || since + 1 < first) return { ok: true, offset: s.offset, replay: [], recovered: false }
    return { ok: true, offset: s.offset, replay: s.held.filter((m) => m.offset > since).map((m) => m.frame), recovered: true }
  }

  function unsubscribe (client: C, name: string): boolean {
    return hub.unsubscribe(client, streamTopic(name))
  }

  /** Deliver to every subscriber, serialized once. Returns the offset and how many got it. */
  function deliver (name: string, data: unknown, rules: NamespaceRules): { offset: number, delivered: number } {
    const s = touch(name)
    s.offset++
    const frame = JSON.stringify({ type: 'message', stream: name, offset: s.offset, data })
    s.held.push({ offset: s.offset, frame })
    if (s.held.length > rules.history) s.held.shift()
    let delivered = 0
    for (const client of hub.subscribers(streamTopic(name)).values()) {
      if (client.send(frame, true)) delivered++
      else if (!client.closed) { // a stream message cannot be skipped silently
        counts.slowConsumerCloses++
        opts.onSlow(client)
      }
    }
    return { offset: s.offset, delivered }
  }

  /** A client's publish: namespace rules, size cap and per-user rate apply. */
  function publish (client: C, name: string, data: unknown): ProtocolError | { offset: number, delivered: number } {
    const rules = rulesOf(name)
    if (rules === undefined) return protocolError('UNKNOWN_STREAM', `no stream ${name}`)
    if (!rules.publish.includes(client.user.role)) return protocolError('FORBIDDEN', `role ${client.user.role} may not publish to ${name}`)
    const bytes = Buffer.byteLength(JSON.stringify(data))
    if (bytes > rules.maxBytes) return protocolError('TOO_LARGE', `message is ${bytes} bytes, at most ${rules.maxBytes}`)
    const take = (buckets.get(name.slice(0, name.indexOf(':'))) as TokenBuckets).take(client.user.id, 1, now())
    if (!take.ok) return protocolError('RATE_LIMITED', `publishing to ${name} too fast`, take.retryAfterMs)
    return deliver(name, data, rules)
  }

  /** An operator's publish (REST): no role, rate or size rule but the stream must exist. */
  function publishAsAdmin (name: string, data: unknown): ProtocolError | { offset: number, delivered: number } {
    const rules = rulesOf(name)
    if (rules === undefined) return protocolError('UNKNOWN_STREAM', `no stream ${name}`)
    return deliver(name, data, rules)
  }

  function list (): Array<{ stream: string, subscribers: number, offset: number, held: number }> {
    return [...streams.values()].map((s) => ({ stream: s.name, subscribers: hub.count(streamTopic(s.name)), offset: s.offset, held: s.held.length }))
      .sort((a, b) => a.stream.localeCompare(b.stream))
  }

  function sweep (): void {
    for (const b of buckets.values()) b.sweep(now())
  }

  return { subscribe, unsubscribe, publish, publishAsAdmin, list, sweep, rulesOf, get size () { return streams.size } }
}

export type Streams<C extends StreamClient = StreamClient> = ReturnType<typeof createStreams<C>>
