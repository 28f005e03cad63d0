// The subscription hub: the single source of truth for who receives what.
// Topics are canvases (`canvas:<id>`) and JSON streams (`<namespace>:<name>`).
//
// Invariants (kept by subscribe / unsubscribe / unsubscribeAll only):
// - conn ∈ byTopic[t]  ⇔  t ∈ byConn[conn.id]
// - no empty Map/Set is left in either index
// - a closed subscriber is never added (closed is checked on subscribe)
// Mutators return whether they changed anything, so callers keep counters and
// join/leave events in lockstep with the indexes.

export type ConnId = number
export type Topic = string

export interface Subscriber {
  readonly id: ConnId
  readonly closed: boolean
}

export function createHub<S extends Subscriber> () {
  const byTopic = new Map<Topic, Map<ConnId, S>>()
  const byConn = new Map<ConnId, Set<Topic>>()

  function subscribe (sub: S, topic: Topic): boolean {
    if (sub.closed) return false
    let subs = byTopic.get(topic)
    if (subs?.has(sub.id) === true) return false
    if (subs === undefined) byTopic.set(topic, (subs = new Map()))
    subs.set(sub.id, sub)
    let topics = byConn.get(sub.id)
    if (topics === undefined) byConn.set(sub.id, (topics = new Set()))
    topics.add(topic)
    return true
  }

  function unsubscribe (sub: S, topic: Topic): boolean {
    const subs = byTopic.get(topic)
    if (subs === undefined || !subs.delete(sub.id)) return false
    if (subs.size === 0) byTopic.delete(topic)
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

  const none: ReadonlyMap<ConnId, S> = new Map()

  return {
    subscribe,
    unsubscribe,
    unsubscribeAll,
    /** Live view; do not mutate the hub while iterating it. */
    subscribers: (topic: Topic): ReadonlyMap<ConnId, S> => byTopic.get(topic) ?? none,
    topicsOf: (id: ConnId): ReadonlySet<Topic> => byConn.get(id) ?? new Set(),
    count: (topic: Topic): number => byTopic.get(topic)?.size ?? 0,
    topics: () => byTopic.keys(),
    /** Totals for gauges and leak checks. */
    size: () => ({ topics: byTopic.size, connections: byConn.size })
  }
}

export type Hub<S extends Subscriber> = ReturnType<typeof createHub<S>>
