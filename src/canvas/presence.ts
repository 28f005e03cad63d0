// Who is on a canvas, and where their cursors are, batched.
//
// Who is here is the broker's presence (src/broker: one entry per joined
// connection, in join order); this only queues what changed since the last
// presence flush: joins, leaves, newcomers waiting for their roster, and
// cursor moves. Joins and leaves, and cursors, are published as events to
// the canvas topic and come back through the fan-out (onPresence, onCursors)
// as one frame for everyone; a roster goes to this node's newcomers.
//
// Every presence message goes to every client on the canvas, so its cost is
// frames, not bytes: one per client per flush. Joins and leaves therefore go
// out at most once per `intervalMs` (PRESENCE_MS, default 1 s), not per tick:
// 10,000 clients joining cost ~10,000 frames a second instead of ~200,000
// (bench/results). A flush sends each canvas at most one `presence` event
// (to those who have their roster) and one roster (to the newcomers: built
// and encoded once, so a join storm does not build one roster per joiner).
// Cursors are what people watch move: one CURSORS frame per canvas per
// tick, the last position of each connection, never persisted.
import { canvasTopic, type EventOf, type PresenceEntry, type Publication, type Topic } from '../broker/broker.js'
import type { ConnId, Sender } from '../hub/hub.js'
import { toEveryone, sendFrame, type Pipeline, type Receiver } from '../hub/fanout.js'
import { SharedFrame } from '../connection/connection.js'
import { encodeCursors } from '../protocol/codec.js'

export interface PresenceClient extends Receiver {
  readonly canvasId: string
  readonly user: { readonly name: string }
}

export interface PresenceOptions<C extends PresenceClient> extends Pipeline<C> {
  /** most entries in one `joined` list (a roster beyond it is summarized by `count`) */
  maxList: number
  /** joins, leaves and rosters go out at most this often (ms; 0: every flush, i.e. every tick) */
  intervalMs?: number
  /** clock (ms), for tests */
  now?: () => number
}

interface Pending<C> {
  joined: Map<ConnId, PresenceEntry>
  left: Set<ConnId>
  /** synced with the canvas, waiting for the next roster */
  newcomers: Set<C>
  cursors: Map<ConnId, { connectionId: number, x: number, y: number }>
}

/** One `presence` message: an event (who came and went) or a roster (who is here, left empty). */
function message (canvas: string, joined: PresenceEntry[], left: ConnId[], count: number): string {
  return JSON.stringify({ type: 'presence', canvas, joined, left, count })
}

export function createPresence<C extends PresenceClient> (opts: PresenceOptions<C>) {
  const { hub, broker } = opts
  const intervalMs = opts.intervalMs ?? 0
  const now = opts.now ?? (() => performance.now())
  const pending = new Map<string, Pending<C>>()
  /**
   * Clients that were sent their roster. Events go to them only: a newcomer
   * gets a roster that already reflects them (built at the same flush).
   */
  const hasRoster = new WeakSet<C>()
  let lastPresence = -Infinity

  const toRostered: Sender<C, SharedFrame> = { sendTo: (c, frame) => hasRoster.has(c) && sendFrame(c, frame) }
  /** the newcomers of the canvas being flushed get its roster (sent or not, they have it: events follow) */
  const toNewcomers = {
    newcomers: new Set<C>(),
    sendTo (c: C, frame: SharedFrame): boolean {
      if (!this.newcomers.has(c)) return false
      hasRoster.add(c)
      return sendFrame(c, frame)
    }
  }

  opts.fanout.on('presence', function onPresence (topic: Topic, pub: Publication<EventOf<'presence'>>): number {
    const { canvas, joined, left, count } = pub.event
    return hub.deliver(topic, new SharedFrame(message(canvas, joined, left, count)), toRostered)
  })
  opts.fanout.on('cursors', function onCursors (topic: Topic, pub: Publication<EventOf<'cursors'>>): number {
    return hub.deliver(topic, new SharedFrame(encodeCursors(pub.event.cursors)), toEveryone)
  })

  function of (canvasId: string): Pending<C> {
    let p = pending.get(canvasId)
    if (p === undefined) pending.set(canvasId, (p = { joined: new Map(), left: new Set(), newcomers: new Set(), cursors: new Map() }))
    return p
  }

  /** Join the canvas's presence; the others hear of it at the next flush. */
  function join (client: C): void {
    broker.presence.add(canvasTopic(client.canvasId), client.id, client)
    of(client.canvasId).joined.set(client.id, { connectionId: client.id, name: client.user.name })
  }

  /** The newcomer has the canvas: its own view of who is here goes out at the next presence flush. */
  function sendRoster (client: C): void {
    of(client.canvasId).newcomers.add(client)
  }

  function leave (client: C): void {
    broker.presence.remove(canvasTopic(client.canvasId), client.id)
    const p = of(client.canvasId)
    p.cursors.delete(client.id)
    p.newcomers.delete(client)
    // joined and gone within one flush: nobody needs to hear of it
    if (!p.joined.delete(client.id)) p.left.add(client.id)
  }

  function cursor (client: C, x: number, y: number): void {
    of(client.canvasId).cursors.set(client.id, { connectionId: client.id, x, y })
  }

  function flushPresence (canvas: string, topic: Topic, p: Pending<C>): void {
    const here = broker.presence.get(topic)
    if (p.joined.size > 0 || p.left.size > 0) {
      const joined = [...p.joined.values()].slice(0, opts.maxList)
      broker.publish(topic, { type: 'presence', canvas, joined, left: [...p.left], count: here.size })
      p.joined.clear()
      p.left.clear()
    }
    if (p.newcomers.size > 0) {
      const roster: PresenceEntry[] = []
      for (const [connectionId, info] of here) {
        if (roster.length >= opts.maxList) break
        roster.push({ connectionId, name: info.user.name })
      }
      // a newcomer that left is no longer a subscriber (and was dropped by leave)
      toNewcomers.newcomers = p.newcomers
      hub.deliver(topic, new SharedFrame(message(canvas, roster, [], here.size)), toNewcomers)
      p.newcomers.clear()
    }
  }

  /** Every tick: cursors; joins, leaves and rosters once intervalMs has passed. */
  function flush (): void {
    const t = now()
    const presenceDue = t - lastPresence >= intervalMs
    if (presenceDue) lastPresence = t
    for (const [canvas, p] of pending) {
      const topic = canvasTopic(canvas)
      // nobody left to tell (and no newcomer: it would be a subscriber)
      if (hub.count(topic) === 0) { pending.delete(canvas); continue }
      if (presenceDue) flushPresence(canvas, topic, p)
      if (p.cursors.size > 0) {
        broker.publish(topic, { type: 'cursors', canvas, cursors: [...p.cursors.values()].slice(0, 65535) })
        p.cursors.clear()
      }
      if (p.joined.size === 0 && p.left.size === 0 && p.newcomers.size === 0) pending.delete(canvas)
    }
  }

  return { join, sendRoster, leave, cursor, flush }
}

export type Presence<C extends PresenceClient = PresenceClient> = ReturnType<typeof createPresence<C>>
