// The broker of a node alone (no REDIS_URL): everything in this process.
// publish is one synchronous call into the node's handler: no queue, no
// microtask, so a tick's commit is applied and sent in the same beat.
//
// History (stream topics): offsets only grow, also across restarts: each
// topic's counter starts at the boot time in microseconds, so an offset from
// before a restart is always below anything held now (a `since` from then
// gets `recovered: false`, never a wrong replay). At most `maxTopics` topics
// keep history; beyond it the least recently used one that this node does not
// subscribe to is dropped, and a dropped topic that comes back starts above
// every offset a dropped one reached, so no offset is handed out twice.
import type {
  Broker, BrokerEvent, History, PresenceInfo, PresenceStore, Publication, PublicationHandler, Published, PublishOptions, Topic
} from './broker.js'

export interface MemoryBrokerOptions {
  /** topics with history held at most (MAX_STREAMS); default 10,000 */
  maxTopics?: number
  /** clock (ms), for tests */
  now?: () => number
}

interface Held { offset: number, publications: Publication[] }

export function createMemoryBroker (opts: MemoryBrokerOptions = {}): Broker {
  const maxTopics = opts.maxTopics ?? 10_000
  let handler: PublicationHandler | null = null
  /** topic → how many subscribe() calls it has without their unsubscribe() */
  const subscribed = new Map<Topic, number>()
  // Map order is insertion order: touching a topic moves it to the end (LRU).
  const histories = new Map<Topic, Held>()
  let floor = (opts.now ?? Date.now)() * 1000

  function touch (topic: Topic): Held {
    let h = histories.get(topic)
    if (h !== undefined) histories.delete(topic)
    else h = { offset: floor, publications: [] }
    histories.set(topic, h)
    if (histories.size > maxTopics) evictOne(topic)
    return h
  }

  /** Drop the least recently used topic nobody here subscribes to, other than the one in use. */
  function evictOne (inUse: Topic): void {
    for (const [topic, h] of histories) {
      if (topic !== inUse && !subscribed.has(topic)) {
        floor = Math.max(floor, h.offset)
        histories.delete(topic)
        return
      }
    }
  }

  function publish (topic: Topic, event: BrokerEvent, o?: PublishOptions): Published {
    let pub: Publication
    if (o?.history !== undefined) {
      const h = touch(topic)
      pub = { offset: ++h.offset, event }
      h.publications.push(pub)
      if (h.publications.length > o.history) h.publications.shift()
    } else {
      pub = { offset: 0, event }
    }
    const delivered = handler !== null && subscribed.has(topic) ? handler(topic, pub) : 0
    return { offset: pub.offset, delivered }
  }

  function history (topic: Topic, since?: number): History {
    const h = touch(topic)
    if (since === undefined) return { offset: h.offset, recovered: true, publications: [] }
    // Every publication after `since` must still be held, or none is replayed.
    const first = h.publications[0]?.offset ?? h.offset + 1
    if (since > h.offset || since + 1 < first) return { offset: h.offset, recovered: false, publications: [] }
    return { offset: h.offset, recovered: true, publications: h.publications.filter((p) => p.offset > since) }
  }

  return {
    start (h: PublicationHandler): void {
      if (handler !== null) throw new Error('the broker already has its handler')
      handler = h
    },
    subscribe (topic: Topic): void { subscribed.set(topic, (subscribed.get(topic) ?? 0) + 1) },
    unsubscribe (topic: Topic): void {
      const n = (subscribed.get(topic) ?? 0) - 1
      if (n > 0) subscribed.set(topic, n)
      else subscribed.delete(topic)
    },
    publish,
    deliver: publish,
    prepare () {},
    history,
    * histories () {
      for (const [topic, h] of histories) yield { topic, offset: h.offset, held: h.publications.length }
    },
    presence: createPresenceStore()
  }
}

/** Who is where, in join order; the roster of a canvas is read from here. */
function createPresenceStore (): PresenceStore {
  const onTopic = new Map<Topic, Map<number, PresenceInfo>>()
  const none: ReadonlyMap<number, PresenceInfo> = new Map()
  return {
    add (topic, id, info) {
      let m = onTopic.get(topic)
      if (m === undefined) onTopic.set(topic, (m = new Map()))
      m.set(id, info)
    },
    remove (topic, id) {
      const m = onTopic.get(topic)
      if (m === undefined || !m.delete(id)) return
      if (m.size === 0) onTopic.delete(topic)
    },
    get: (topic) => onTopic.get(topic) ?? none,
    count: (topic) => onTopic.get(topic)?.size ?? 0
  }
}
