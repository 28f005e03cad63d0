// Cluster mode's broker for everything but the canvas order: it wraps the
// node's broker (whose local publish hands events to this node's fan-out;
// commits are the canvas order's business, passed through untouched) and
// carries the rest to the other nodes.
//
// - presence, cursors (publish): delivered here at once, and sent on the bus
//   (cluster.ts, pub/sub: at most once; soft state) to the other nodes, which
//   deliver them to their own subscribers of the topic.
// - broadcasts, disconnects (deliver): the same, as a request: every other
//   node answers how many of its connections got it, and `delivered` sums
//   what came within CLUSTER_REPLY_TIMEOUT_MS (a node that does not answer is
//   left out of the sum: the answer is a count of sends that surely
//   happened, never more).
// - stream messages (deliver with history): ordered by Redis
//   (redis-streams.ts) and delivered by every node following the stream,
//   this one included, in offset order; with `count`, every node answers how
//   many of its connections got that offset.
// - presence store: this node's entries plus a mirror of every other live
//   node's, kept by their presence events and loaded from them when this
//   node starts; a node that stops beating (cluster.ts) has its entries
//   dropped and a `left` event for them delivered here: a dead node's people
//   vanish within CLUSTER_NODE_TTL_MS.
import {
  canvasTopic, isStreamTopic, type Broker, type BrokerEvent, type DeliverOptions, type EventOf, type History,
  type PresenceInfo, type PresenceStore, type PublicationHandler, type Published, type PublishOptions, type Topic
} from './broker.js'
import type { Cluster } from './cluster.js'
import { createRedisStreams, type RedisStreams, type RedisStreamsOptions } from './redis-streams.js'

export interface ClusterBrokerOptions {
  /** the node's broker: local delivery (and, after the canvas order lands, commits) */
  base: Broker
  cluster: Cluster
  /** the stream topics' order (redis-streams.ts); its deliveries go to this broker's handler */
  streams: Omit<RedisStreamsOptions, 'deliver'>
  replyTimeoutMs: number
}

export interface ClusterBroker extends Broker {
  readonly streams: RedisStreams
  /** Load the other nodes' presence entries (at start, and after Redis was away). */
  syncRosters (): Promise<void>
}

/** Presence entries as they travel: [topic, [[connectionId, name], ...]][] */
type Roster = Array<[Topic, Array<[number, string]>]>

/**
 * Events the other nodes hear of on the bus. Commits and canvas-state
 * changes have their own path: the canvas order (redis-order.ts), read by
 * every node. Settings and locks are stored in Redis (cluster-state.ts) and
 * relayed with their version; a relay lost is made good by the reload at
 * the next reconnect.
 */
const RELAYED = new Set<BrokerEvent['type']>(['presence', 'cursors', 'broadcast', 'disconnect', 'locks', 'settings'])

export function createClusterBroker (o: ClusterBrokerOptions): ClusterBroker {
  const { base, cluster } = o
  let handler: PublicationHandler | null = null
  // Read from Redis in offset order; to this node's fan-out like any publication (subscribers counted by the streams themselves).
  const streams = createRedisStreams({ ...o.streams, deliver: (topic, pub) => handler === null ? 0 : handler(topic, pub) })

  // ---- presence: own entries, and the other nodes' ----
  const local = new Map<Topic, Map<number, PresenceInfo>>()
  const remote = new Map<string, Map<Topic, Map<number, PresenceInfo>>>()

  function entries (m: Map<Topic, Map<number, PresenceInfo>>, topic: Topic): Map<number, PresenceInfo> {
    let e = m.get(topic)
    if (e === undefined) m.set(topic, (e = new Map()))
    return e
  }

  function remoteOf (node: string): Map<Topic, Map<number, PresenceInfo>> {
    let r = remote.get(node)
    if (r === undefined) remote.set(node, (r = new Map()))
    return r
  }

  function applyRemote (node: string, topic: Topic, e: EventOf<'presence'>): void {
    const r = remoteOf(node)
    const here = entries(r, topic)
    for (const id of e.left) here.delete(id)
    for (const j of e.joined) here.set(j.connectionId, { user: { name: j.name } })
    if (here.size === 0) r.delete(topic)
  }

  const presence: PresenceStore = {
    add (topic, id, info) { entries(local, topic).set(id, info) },
    remove (topic, id) {
      const m = local.get(topic)
      if (m !== undefined && m.delete(id) && m.size === 0) local.delete(topic)
    },
    /** every node's, this node's first (join order within each node) */
    get (topic) {
      const out = new Map(local.get(topic) ?? [])
      for (const r of remote.values()) for (const [id, info] of r.get(topic) ?? []) out.set(id, info)
      return out
    },
    count (topic) {
      let n = local.get(topic)?.size ?? 0
      for (const r of remote.values()) n += r.get(topic)?.size ?? 0
      return n
    }
  }

  function roster (): Roster {
    return [...local].map(([topic, m]) => [topic, [...m].map(([id, info]) => [id, info.user.name])])
  }

  function loadRoster (node: string, r: Roster): void {
    const m = new Map<Topic, Map<number, PresenceInfo>>()
    for (const [topic, list] of r) m.set(topic, new Map(list.map(([id, name]) => [id, { user: { name } }])))
    remote.set(node, m)
  }

  /** A node is gone: its people leave, told to this node's clients as one event per canvas. */
  function dropNode (node: string): void {
    const r = remote.get(node)
    remote.delete(node)
    if (r === undefined) return
    for (const [topic, m] of r) {
      if (!topic.startsWith('canvas:')) continue
      const canvas = topic.slice('canvas:'.length)
      base.publish(canvasTopic(canvas), { type: 'presence', canvas, joined: [], left: [...m.keys()], count: presence.count(topic) })
    }
  }

  // ---- the bus ----
  cluster.on('event', (d: { t: Topic, e: BrokerEvent }, from: string) => {
    if (d.e.type === 'presence') applyRemote(from, d.t, d.e)
    return base.publish(d.t, d.e).delivered
  })
  cluster.on('streamCount', (d: { t: Topic, o: number }) => streams.deliveredAt(d.t, d.o, o.replyTimeoutMs))
  cluster.on('roster', (_d: unknown, from: string) => {
    // the asker is new: what it knew of us is nothing, what we know of it may be stale
    remote.delete(from)
    return roster()
  })
  cluster.onNodeGone(dropNode)

  async function syncRosters (): Promise<void> {
    const res = await cluster.request<Roster>('roster', null)
    for (const { node, data } of res.replies) loadRoster(node, data)
  }

  function publish (topic: Topic, event: BrokerEvent, opts?: PublishOptions): Published {
    if (opts?.history !== undefined) throw new Error('cluster mode: a topic with history is ordered by Redis; use deliver()')
    const res = base.publish(topic, event)
    if (RELAYED.has(event.type)) cluster.emit('event', { t: topic, e: event })
    return res
  }

  async function deliver (topic: Topic, event: BrokerEvent, opts?: DeliverOptions): Promise<Published> {
    if (opts?.history !== undefined && isStreamTopic(topic)) {
      const json = (event as EventOf<'message'>).json
      const offset = await streams.append(topic, json, opts.history, opts.historyMaxAgeMs ?? 0)
      if (opts.count !== true) return { offset, delivered: 0 }
      const [here, there] = await Promise.all([
        streams.deliveredAt(topic, offset, o.replyTimeoutMs),
        cluster.request<number>('streamCount', { t: topic, o: offset })
      ])
      return { offset, delivered: here + there.replies.reduce((n, r) => n + r.data, 0) }
    }
    const here = base.publish(topic, event).delivered
    const there = await cluster.request<number>('event', { t: topic, e: event })
    return { offset: 0, delivered: here + there.replies.reduce((n, r) => n + r.data, 0) }
  }

  function history (topic: Topic, since?: number): History {
    return isStreamTopic(topic) ? streams.history(topic, since) : base.history(topic, since)
  }

  return {
    // the canvas order (cluster mode), passed through: commits are its business
    ...(base.sequencer !== undefined ? { sequencer: base.sequencer } : {}),
    start (h) {
      handler = h
      base.start(h)
    },
    subscribe (topic) {
      if (isStreamTopic(topic)) streams.subscribe(topic)
      base.subscribe(topic)
    },
    unsubscribe (topic) {
      if (isStreamTopic(topic)) streams.unsubscribe(topic)
      base.unsubscribe(topic)
    },
    publish,
    deliver,
    async prepare (topic, n, maxAgeMs) { await streams.follow(topic, n, maxAgeMs ?? 0) },
    history,
    // Stream history lives in Redis Streams here (the SQLite HistoryStore is a node alone's).
    last: (topic, n) => isStreamTopic(topic) ? streams.last(topic, n) : base.last(topic, n),
    * histories () { yield * streams.histories() },
    presence,
    streams,
    syncRosters
  }
}
