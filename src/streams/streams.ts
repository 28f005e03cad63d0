// Named JSON streams (`namespace:name`) over the same hub as canvases.
//
// Each namespace has rules: who subscribes, who publishes over the socket,
// the largest message, a publish rate per connection, and how many messages
// a stream keeps for `since` replays. A message is published to the broker
// on the stream's topic (`stream:<name>`), which numbers it and keeps its
// history (offsets, `since`, how many streams are held: src/broker); it
// comes back through the fan-out (onMessage), is serialized once, and the
// same frame goes to every subscriber.
import { isStreamTopic, streamOf, streamTopic, type EventOf, type Publication, type Published, type Topic } from '../broker/broker.js'
import type { Sender } from '../hub/hub.js'
import { sendFrame, type Pipeline, type Receiver } from '../hub/fanout.js'
import { SharedFrame } from '../connection/connection.js'
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
  /** messages kept per stream for `since` and `last` replays */
  history: number
  /** seconds a message is kept for replays (also across restarts); 0: only the count bounds it */
  historyMaxAge: number
}

/** A day: how long a message is kept for replays when a namespace does not say. */
export const DEFAULT_HISTORY_MAX_AGE = 86400

export const DEFAULT_NAMESPACES: Record<string, NamespaceRules> = {
  alerts: { subscribe: ['viewer', 'painter', 'admin'], publish: [], maxBytes: 4096, rate: 10, burst: 20, history: 100, historyMaxAge: DEFAULT_HISTORY_MAX_AGE },
  chat: { subscribe: ['viewer', 'painter', 'admin'], publish: ['painter', 'admin'], maxBytes: 1024, rate: 2, burst: 5, history: 100, historyMaxAge: DEFAULT_HISTORY_MAX_AGE }
}

export interface StreamClient extends Receiver {
  readonly user: { readonly id: string, readonly name: string, readonly role: Role }
}

export interface StreamsOptions<C extends StreamClient> extends Pipeline<C> {
  namespaces: Record<string, NamespaceRules>
  maxSubscriptions: number
  /** most messages a `subscribe` may ask for with `last` (STREAM_LAST_MAX; default 100) */
  maxLast?: number
  /** called when a subscriber cannot take a message (its buffer is full) */
  onSlow: (client: C) => void
  now?: () => number
  /** slow subscribers handed to onSlow are counted here (default: nowhere) */
  meter?: Meter
}

export { streamTopic }

/** A stream message as sent: `{"type":"message","stream":S,"offset":N,"data":...}`, `data` already JSON. */
function messageText (stream: string, offset: number, json: string | undefined): string {
  return '{"type":"message","stream":' + JSON.stringify(stream) + ',"offset":' + offset + (json === undefined ? '' : ',"data":' + json) + '}'
}

export type SubscribeResult =
  | { ok: true, offset: number, replay: string[], recovered?: boolean }
  | { ok: false, error: ProtocolError }

export function createStreams<C extends StreamClient> (opts: StreamsOptions<C>) {
  const { hub, broker } = opts
  const now = opts.now ?? Date.now
  const maxLast = opts.maxLast ?? 100
  const counts = (opts.meter ?? noopMeter).counts
  const buckets = new Map<string, TokenBuckets>()
  for (const [ns, rules] of Object.entries(opts.namespaces)) buckets.set(ns, createTokenBuckets({ rate: rules.rate, burst: rules.burst }))

  /** Must-send: a subscriber that cannot take a stream message cannot skip it silently. */
  const toSubscribers: Sender<C, SharedFrame> = {
    sendTo (client, frame) {
      if (sendFrame(client, frame, true)) return true
      if (!client.closed) {
        counts.slowConsumerCloses++
        opts.onSlow(client)
      }
      return false
    }
  }

  opts.fanout.on('message', function onMessage (topic: Topic, pub: Publication<EventOf<'message'>>): number {
    return hub.deliver(topic, new SharedFrame(messageText(pub.event.stream, pub.offset, pub.event.json)), toSubscribers)
  })

  function rulesOf (name: string): NamespaceRules | undefined {
    if (!STREAM_NAME.test(name)) return undefined
    const ns = name.slice(0, name.indexOf(':'))
    return Object.hasOwn(opts.namespaces, ns) ? opts.namespaces[ns] : undefined // not `constructor` from Object.prototype
  }

  /**
   * Subscribe, with a replay after `since`, or of the last `last` messages
   * held (at most maxLast). In-memory the answer is immediate; in cluster
   * mode the broker first loads the stream's recent history (prepare), then
   * history and subscription happen in one turn, so the replay joins the
   * live messages exactly (no gap, no duplicate).
   */
  function subscribe (client: C, name: string, since?: number, last?: number): SubscribeResult | Promise<SubscribeResult> {
    const rules = rulesOf(name)
    if (rules === undefined) return { ok: false, error: protocolError('UNKNOWN_STREAM', `no stream ${name}`) }
    if (!rules.subscribe.includes(client.user.role)) return { ok: false, error: protocolError('FORBIDDEN', `role ${client.user.role} may not subscribe to ${name}`) }
    const topic = streamTopic(name)
    if (last !== undefined && last > maxLast) return { ok: false, error: protocolError('TOO_LARGE', `"last" may ask for at most ${maxLast} messages`) }
    const full = overCap(client, topic)
    if (full !== null) return full
    const ready = broker.prepare(topic, rules.history, rules.historyMaxAge * 1000)
    if (ready === undefined) return subscribeNow(client, name, topic, since, last)
    // The cap again after the wait: other subscribes of this client may have completed meanwhile.
    return ready.then(() => overCap(client, topic) ?? subscribeNow(client, name, topic, since, last))
  }

  function overCap (client: C, topic: Topic): SubscribeResult | null {
    const topics = hub.topicsOf(client.id)
    if (!topics.has(topic) && [...topics].filter(isStreamTopic).length >= opts.maxSubscriptions) {
      return { ok: false, error: protocolError('TOO_LARGE', `at most ${opts.maxSubscriptions} stream subscriptions`) }
    }
    return null
  }

  function subscribeNow (client: C, name: string, topic: Topic, since: number | undefined, last: number | undefined): SubscribeResult {
    const h = last === undefined ? broker.history(topic, since) : broker.last(topic, last)
    hub.subscribe(client, topic)
    const replay = h.publications.map((p) => messageText(name, p.offset, (p.event as EventOf<'message'>).json))
    if (last !== undefined) return { ok: true, offset: h.offset, replay }
    if (since === undefined) return { ok: true, offset: h.offset, replay: [] }
    if (!h.recovered) return { ok: true, offset: h.offset, replay: [], recovered: false }
    return { ok: true, offset: h.offset, replay, recovered: true }
  }

  function unsubscribe (client: C, name: string): boolean {
    return hub.unsubscribe(client, streamTopic(name))
  }

  /**
   * Publish to every subscriber, serialized once. Returns the offset and
   * how many got it (in cluster mode a promise; `count`: summed over the
   * nodes, else 0 once ordered).
   */
  function deliver (name: string, data: unknown, rules: NamespaceRules, json = JSON.stringify(data), count = true): Published | Promise<Published> {
    return broker.deliver(streamTopic(name), { type: 'message', stream: name, json }, { history: rules.history, historyMaxAgeMs: rules.historyMaxAge * 1000, count })
  }

  /** A client's publish: namespace rules, size cap and per-user rate apply. */
  function publish (client: C, name: string, data: unknown): ProtocolError | Published | Promise<Published> {
    const rules = rulesOf(name)
    if (rules === undefined) return protocolError('UNKNOWN_STREAM', `no stream ${name}`)
    if (!rules.publish.includes(client.user.role)) return protocolError('FORBIDDEN', `role ${client.user.role} may not publish to ${name}`)
    const json = JSON.stringify(data)
    const bytes = Buffer.byteLength(json)
    if (bytes > rules.maxBytes) return protocolError('TOO_LARGE', `message is ${bytes} bytes, at most ${rules.maxBytes}`)
    const take = (buckets.get(name.slice(0, name.indexOf(':'))) as TokenBuckets).take(client.user.id, 1, now())
    if (!take.ok) return protocolError('RATE_LIMITED', `publishing to ${name} too fast`, take.retryAfterMs)
    // The publisher is answered its offset: nothing waits on other nodes' counts.
    return deliver(name, data, rules, json, false)
  }

  /** An operator's publish (REST): no role, rate or size rule but the stream must exist. */
  function publishAsAdmin (name: string, data: unknown): ProtocolError | Published | Promise<Published> {
    const rules = rulesOf(name)
    if (rules === undefined) return protocolError('UNKNOWN_STREAM', `no stream ${name}`)
    return deliver(name, data, rules)
  }

  /** Every stream held (by the broker), with its subscribers here. */
  function list (): Array<{ stream: string, subscribers: number, offset: number, held: number }> {
    const out = []
    for (const h of broker.histories()) {
      if (isStreamTopic(h.topic)) out.push({ stream: streamOf(h.topic), subscribers: hub.count(h.topic), offset: h.offset, held: h.held })
    }
    return out.sort((a, b) => a.stream.localeCompare(b.stream))
  }

  function sweep (): void {
    for (const b of buckets.values()) b.sweep(now())
  }

  return {
    subscribe,
    unsubscribe,
    publish,
    publishAsAdmin,
    list,
    sweep,
    rulesOf,
    get size () {
      let n = 0
      for (const h of broker.histories()) if (isStreamTopic(h.topic)) n++
      return n
    }
  }
}

export type Streams<C extends StreamClient = StreamClient> = ReturnType<typeof createStreams<C>>
