// The subscription hub: the single source of truth for who receives what,
// and the only code that iterates a topic's subscribers (deliver). Topics are
// the broker's (src/broker/broker.ts): `canvas:<id>`, `user:<sub>`,
// `stream:<ns:name>`.
//
// A topic with one subscriber holds it directly, not in a Map of one: every
// connection is alone on its `user:<sub>` topic most of the time, and a Map
// per connection would cost ~170 bytes each. A second subscriber turns it
// into a Map, which stays one until the topic is empty (so a delivery that
// iterates it sees every removal).
//
// Invariants (kept by subscribe / unsubscribe / unsubscribeAll only):
// - conn ∈ byTopic[t]  ⇔  t ∈ byConn[conn.id]
// - no empty Map/Set is left in either index
// - a closed subscriber is never added (closed is checked on subscribe)
// - a topic with subscribers here is subscribed at the broker (once per
//   topic: its first subscriber subscribes, its last one's leaving unsubscribes)
// Mutators return whether they changed anything, so callers keep counters and
// join/leave events in lockstep with the indexes.
import type { Broker, Topic } from '../broker/broker.js'

export type ConnId = number
export type { Topic }

export interface Subscriber {
  readonly id: ConnId
  readonly closed: boolean
}

/**
 * How deliver() hands the frame to each subscriber, and whether it was sent.
 * One long-lived object per kind of delivery (never one per call): the
 * broadcaster keeps what varies from call to call in its own fields.
 */
export interface Sender<S, F> {
  sendTo (sub: S, frame: F): boolean
}

export function createHub<S extends Subscriber> (broker?: Pick<Broker, 'subscribe' | 'unsubscribe'>) {
  const byTopic = new Map<Topic, S | Map<ConnId, S>>()
  const byConn = new Map<ConnId, Set<Topic>>()
  /**
   * Every message written to a connection of this app (the connections
   * count it: ConnectionLimits.frames). The adaptive tick reads it to keep
   * all frames within its budget. Per app, not per process.
   */
  const frames = { count: 0 }

  function subscribe (sub: S, topic: Topic): boolean {
    if (sub.closed) return false
    const subs = byTopic.get(topic)
    if (subs === undefined) {
      byTopic.set(topic, sub)
      broker?.subscribe(topic)
    } else if (subs instanceof Map) {
      if (subs.has(sub.id)) return false
      subs.set(sub.id, sub)
    } else {
      if (subs.id === sub.id) return false
      byTopic.set(topic, new Map([[subs.id, subs], [sub.id, sub]]))
    }
    let topics = byConn.get(sub.id)
    if (topics === undefined) byConn.set(sub.id, (topics = new Set()))
    topics.add(topic)
    return true
  }

  function unsubscribe (sub: S, topic: Topic): boolean {
    const subs = byTopic.get(topic)
    if (subs === undefined) return false
    if (subs instanceof Map ? !subs.delete(sub.id) : subs.id !== sub.id) return false
    if (!(subs instanceof Map) || subs.size === 0) {
      byTopic.delete(topic)
      broker?.unsubscribe(topic)
    }
    const topics = byConn.get(sub.id)
    topics?.delete(topic)
    if (topics?.size === 0) byConn.delete(sub.id)
    return true
  }

  /** Remove every subscription of `sub`; returns the topics it left. */
  function unsubscribeAll (sub: S): Topic[] {
    const topics = byConn.get(sub.id)
    if (topics === undefined) return []
    const left = [...topics]
    for (const t of left) unsubscribe(sub, t)
    return left
  }

  /**
   * The one loop over subscribers: hand `frame`, built once by the caller,
   * to every subscriber of `topic` through `sender`; returns how many were
   * sent it. A sender may unsubscribe or close the subscriber it is given
   * (Map iteration survives deleting the current entry).
   */
  function deliver<F> (topic: Topic, frame: F, sender: Sender<S, F>): number {
    const subs = byTopic.get(topic)
    if (subs === undefined) return 0
    if (!(subs instanceof Map)) return sender.sendTo(subs, frame) ? 1 : 0
    let sent = 0
    for (const sub of subs.values()) if (sender.sendTo(sub, frame)) sent++
    return sent
  }

  function get (topic: Topic, id: ConnId): S | undefined {
    const subs = byTopic.get(topic)
    return subs instanceof Map ? subs.get(id) : subs?.id === id ? subs : undefined
  }

  return {
    subscribe,
    unsubscribe,
    unsubscribeAll,
    deliver,
    frames,
    /** One subscriber of a topic by id (a lookup, not a loop). */
    get,
    topicsOf: (id: ConnId): ReadonlySet<Topic> => byConn.get(id) ?? new Set(),
    count (topic: Topic): number {
      const subs = byTopic.get(topic)
      return subs instanceof Map ? subs.size : subs === undefined ? 0 : 1
    },
    topics: () => byTopic.keys(),
    /** Totals for gauges and leak checks. */
    size: () => ({ topics: byTopic.size, connections: byConn.size })
  }
}

export type Hub<S extends Subscriber> = ReturnType<typeof createHub<S>>
