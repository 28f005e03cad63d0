// The broker of a node alone (no REDIS_URL): everything in this process.
// publish is one synchronous call into the node's handler: no queue, no
// microtask, so a tick's commit is applied and sent in the same beat.
//
// History (stream topics) is held here, bounded per topic by count (the
// publisher's `history`) and by age (`historyMaxAgeMs`), and, with a
// `store`, written through the HistoryStore port in batches (`flush`, one
// transaction per call) and read back the first time a topic is used after a
// boot (or after it was dropped from memory). A message is delivered at once
// and made durable at the next flush: a crash loses what was published since
// the last successful flush, which subscribers may have been shown (see
// docs/protocol.md "Stream history").
//
// Offsets only grow, also across restarts: a topic's counter starts at the
// boot time in microseconds, or after its last stored offset when that is
// higher, so an offset handed out before a crash and never stored is not
// reused. `since` is answered exactly: it must be an offset this topic handed
// out (a held message's, the one before the first held, or the last one),
// and every message after it must still be held; anything else (an offset
// lost in a crash, one trimmed away) gets `recovered: false`, never a wrong
// replay.
//
// At most `maxTopics` topics are held in memory; beyond it the least recently
// used one that this node does not subscribe to and that has nothing waiting
// for the store is dropped (its stored history stays), and a dropped topic
// that comes back starts above every offset a dropped one reached.
import {
  streamOf, type Broker, type BrokerEvent, type History, type PresenceInfo, type PresenceStore, type Publication,
  type PublicationHandler, type Published, type PublishOptions, type Topic
} from './broker.js'
import type { HistoryStore, StoredMessage } from './history-store.js'

export interface MemoryBrokerOptions {
  /** topics with history held at most (MAX_STREAMS); default 10,000 */
  maxTopics?: number
  /** clock (ms), for tests */
  now?: () => number
  /** where history is made durable; none: memory only (lost at restart) */
  store?: HistoryStore
  /** messages waiting for the store at most (STREAM_PENDING_MAX); beyond, the oldest waiting are never written. Default 100,000 */
  maxPending?: number
}

interface Entry { pub: Publication, at: number, expiresAt: number | null }

interface Held {
  /** the last offset handed out */
  offset: number
  /** every message after this offset is held, except offsets a crash lost (never handed out again) */
  from: number
  /** oldest first */
  entries: Entry[]
}

/** What one flush did. */
export interface FlushResult { written: number }

export interface MemoryBroker extends Broker {
  /**
   * Write every message published since the last successful flush, and the
   * count bound's deletions, in one store transaction. Throws when the store
   * fails: they stay waiting (at most maxPending) for the next flush.
   */
  flush (): FlushResult
  /** Drop what the age bound expired, here and in the store. */
  expire (): void
  /** messages waiting for the store */
  readonly pending: number
  /** messages that never reached the store because maxPending overflowed while it failed */
  readonly lost: number
}

export function createMemoryBroker (opts: MemoryBrokerOptions = {}): MemoryBroker {
  const maxTopics = opts.maxTopics ?? 10_000
  const maxPending = opts.maxPending ?? 100_000
  const now = opts.now ?? Date.now
  const store = opts.store
  let handler: PublicationHandler | null = null
  /** topic → how many subscribe() calls it has without their unsubscribe() */
  const subscribed = new Map<Topic, number>()
  // Map order is insertion order: touching a topic moves it to the end (LRU).
  const histories = new Map<Topic, Held>()
  let floor = now() * 1000
  /** published, not yet written to the store (oldest first) */
  let pending: StoredMessage[] = []
  /** per topic: delete stored messages at or below this offset (count bound) */
  let cuts = new Map<Topic, number>()
  /** topics with something in `pending` or `cuts`: never dropped from memory, or a reload would miss it */
  let dirty = new Set<Topic>()
  let lost = 0

  function load (topic: Topic): Held {
    let rows: StoredMessage[] = []
    if (store !== undefined) {
      try {
        rows = store.read(topic, now())
      } catch {
        // Storage unreadable: serve the topic from memory alone. Its offsets
        // still start above the floor, so none is reused.
      }
    }
    const last = rows.length > 0 ? rows[rows.length - 1].offset : 0
    const offset = Math.max(floor, last)
    const entries = rows.map((r) => ({
      pub: { offset: r.offset, event: { type: 'message', stream: streamOf(topic), json: r.json } as BrokerEvent },
      at: r.at,
      expiresAt: r.expiresAt
    }))
    return { offset, from: rows.length > 0 ? rows[0].offset - 1 : offset, entries }
  }

  function touch (topic: Topic): Held {
    let h = histories.get(topic)
    if (h !== undefined) histories.delete(topic)
    else h = load(topic)
    histories.set(topic, h)
    if (histories.size > maxTopics) evictOne(topic)
    dropExpired(h, now())
    return h
  }

  /** Drop the least recently used topic nobody here subscribes to, other than the one in use. */
  function evictOne (inUse: Topic): void {
    for (const [topic, h] of histories) {
      if (topic !== inUse && !subscribed.has(topic) && !dirty.has(topic)) {
        floor = Math.max(floor, h.offset)
        histories.delete(topic)
        return
      }
    }
  }

  /** The age bound, in memory (the store drops its own copies in expire()). */
  function dropExpired (h: Held, t: number): void {
    let n = 0
    while (n < h.entries.length && h.entries[n].expiresAt !== null && (h.entries[n].expiresAt as number) <= t) n++
    if (n > 0) h.from = h.entries[n - 1].pub.offset
    if (n > 0) h.entries.splice(0, n)
  }

  function keep (topic: Topic, h: Held, entry: Entry, count: number): void {
    h.entries.push(entry)
    if (h.entries.length > count) {
      const dropped = h.entries.splice(0, h.entries.length - count)
      h.from = dropped[dropped.length - 1].pub.offset
      if (store !== undefined) { cuts.set(topic, h.from); dirty.add(topic) }
    }
    // Only stream messages are kept durable (the only events with history).
    const event = entry.pub.event
    if (store === undefined || count === 0 || event.type !== 'message') return
    pending.push({ topic, offset: entry.pub.offset, json: event.json, at: entry.at, expiresAt: entry.expiresAt })
    dirty.add(topic)
    // Bounded while the store fails: the oldest waiting are given up (they
    // stay in memory until trimmed, just not durable).
    if (pending.length > maxPending) {
      const over = pending.length - maxPending
      pending.splice(0, over)
      lost += over
    }
  }

  function publish (topic: Topic, event: BrokerEvent, o?: PublishOptions): Published {
    let pub: Publication
    if (o?.history !== undefined) {
      const h = touch(topic)
      pub = { offset: ++h.offset, event }
      const at = now()
      const age = o.historyMaxAgeMs ?? 0
      keep(topic, h, { pub, at, expiresAt: age > 0 ? at + age : null }, o.history)
    } else {
      pub = { offset: 0, event }
    }
    const delivered = handler !== null && subscribed.has(topic) ? handler(topic, pub) : 0
    return { offset: pub.offset, delivered }
  }

  /** Index of the held entry with this offset, or -1 (entries are in offset order). */
  function indexOf (h: Held, offset: number): number {
    let lo = 0
    let hi = h.entries.length - 1
    while (lo <= hi) {
      const mid = (lo + hi) >> 1
      const o = h.entries[mid].pub.offset
      if (o === offset) return mid
      if (o < offset) lo = mid + 1
      else hi = mid - 1
    }
    return -1
  }

  function history (topic: Topic, since?: number): History {
    const h = touch(topic)
    if (since === undefined) return { offset: h.offset, recovered: true, publications: [] }
    const notRecovered = { offset: h.offset, recovered: false, publications: [] }
    if (since > h.offset || since < h.from) return notRecovered
    // An offset this topic handed out: a held one, the one before a held one
    // (the start of a run: `from`, or the last offset before a restart's jump), or the last.
    let start: number
    if (since === h.offset) start = h.entries.length
    else {
      const at = indexOf(h, since)
      const next = indexOf(h, since + 1)
      if (at >= 0) start = at + 1
      else if (next >= 0) start = next
      else return notRecovered
    }
    return { offset: h.offset, recovered: true, publications: h.entries.slice(start).map((e) => e.pub) }
  }

  function last (topic: Topic, n: number): History {
    const h = touch(topic)
    const start = Math.max(0, h.entries.length - Math.max(0, n))
    return { offset: h.offset, recovered: true, publications: h.entries.slice(start).map((e) => e.pub) }
  }

  function flush (): FlushResult {
    if (store === undefined || (pending.length === 0 && cuts.size === 0)) return { written: 0 }
    const batch = pending
    store.write(batch, cuts)
    // Only after the write succeeded: a throw above keeps everything waiting.
    pending = []
    cuts = new Map()
    dirty = new Set()
    return { written: batch.length }
  }

  function expire (): void {
    const t = now()
    for (const h of histories.values()) dropExpired(h, t)
    store?.expire(t)
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
    last,
    * histories () {
      for (const [topic, h] of histories) yield { topic, offset: h.offset, held: h.entries.length }
    },
    presence: createPresenceStore(),
    flush,
    expire,
    get pending () { return pending.length },
    get lost () { return lost }
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
