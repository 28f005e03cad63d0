// Who is on a canvas, and where their cursors are, batched.
//
// The roster itself is the hub's canvas topic (the single source of truth);
// this only queues what changed since the last presence flush: joins,
// leaves, newcomers waiting for their roster, and cursor moves.
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
import type { Hub, Subscriber, ConnId } from '../hub/hub.js'
import { encodeCursors } from '../protocol/codec.js'
import { canvasTopic } from './canvas-service.js'

export interface PresenceClient extends Subscriber {
  readonly canvasId: string
  readonly user: { readonly name: string }
  send (data: Buffer | string): boolean
}

export interface PresenceOptions<C extends PresenceClient> {
  hub: Hub<C>
  /** most entries in one `joined` list (a roster beyond it is summarized by `count`) */
  maxList: number
  /** joins, leaves and rosters go out at most this often (ms; 0: every flush, i.e. every tick) */
  intervalMs?: number
  /** clock (ms), for tests */
  now?: () => number
}

interface Pending<C> {
  joined: Map<ConnId, { connectionId: number, name: string }>
  left: Set<ConnId>
  /** synced with the canvas, waiting for the next roster */
  newcomers: Set<C>
  cursors: Map<ConnId, { connectionId: number, x: number, y: number }>
}

export function createPresence<C extends PresenceClient> (opts: PresenceOptions<C>) {
  const { hub } = opts
  const intervalMs = opts.intervalMs ?? 0
  const now = opts.now ?? (() => performance.now())
  const pending = new Map<string, Pending<C>>()
  /**
   * Clients that were sent their roster. Events go to them only: a newcomer
   * gets a roster that already reflects them (built at the same flush).
   */
  const hasRoster = new WeakSet<C>()
  let lastPresence = -Infinity

  function of (canvasId: string): Pending<C> {
    let p = pending.get(canvasId)
    if (p === undefined) pending.set(canvasId, (p = { joined: new Map(), left: new Set(), newcomers: new Set(), cursors: new Map() }))
    return p
  }

  /** Queue the join, for the others. */
  function join (client: C): void {
    of(client.canvasId).joined.set(client.id, { connectionId: client.id, name: client.user.name })
  }

  /** The newcomer has the canvas: its own view of who is here goes out at the next presence flush. */
  function sendRoster (client: C): void {
    of(client.canvasId).newcomers.add(client)
  }

  function leave (client: C): void {
    const p = of(client.canvasId)
    p.cursors.delete(client.id)
    p.newcomers.delete(client)
    // joined and gone within one flush: nobody needs to hear of it
    if (!p.joined.delete(client.id)) p.left.add(client.id)
  }

  function cursor (client: C, x: number, y: number): void {
    of(client.canvasId).cursors.set(client.id, { connectionId: client.id, x, y })
  }

  /** One `presence` message: an event (who came and went) or a roster (who is here, left empty). */
  function message (canvasId: string, joined: Array<{ connectionId: number, name: string }>, left: ConnId[], count: number): string {
    return JSON.stringify({ type: 'presence', canvas: canvasId, joined, left, count })
  }

  function flushPresence (canvasId: string, p: Pending<C>, subs: ReadonlyMap<ConnId, C>): void {
    if (p.joined.size > 0 || p.left.size > 0) {
      const joined = [...p.joined.values()].slice(0, opts.maxList)
      const msg = message(canvasId, joined, [...p.left], subs.size)
      for (const c of subs.values()) if (hasRoster.has(c)) c.send(msg)
      p.joined.clear()
      p.left.clear()
    }
    if (p.newcomers.size > 0) {
      const roster = []
      for (const c of subs.values()) {
        if (roster.length >= opts.maxList) break
        roster.push({ connectionId: c.id, name: c.user.name })
      }
      const msg = message(canvasId, roster, [], subs.size)
      for (const c of p.newcomers) {
        // a newcomer that left is no longer a subscriber (and was dropped by leave)
        if (subs.get(c.id) !== c) continue
        c.send(msg)
        hasRoster.add(c)
      }
      p.newcomers.clear()
    }
  }

  /** Every tick: cursors; joins, leaves and rosters once intervalMs has passed. */
  function flush (): void {
    const t = now()
    const presenceDue = t - lastPresence >= intervalMs
    if (presenceDue) lastPresence = t
    for (const [canvasId, p] of pending) {
      const subs = hub.subscribers(canvasTopic(canvasId))
      // nobody left to tell (and no newcomer: it would be a subscriber)
      if (subs.size === 0) { pending.delete(canvasId); continue }
      if (presenceDue) flushPresence(canvasId, p, subs)
      if (p.cursors.size > 0) {
        const frame = encodeCursors([...p.cursors.values()].slice(0, 65535))
        for (const c of subs.values()) c.send(frame)
        p.cursors.clear()
      }
      if (p.joined.size === 0 && p.left.size === 0 && p.newcomers.size === 0) pending.delete(canvasId)
    }
  }

  return { join, sendRoster, leave, cursor, flush }
}

export type Presence<C extends PresenceClient = PresenceClient> = ReturnType<typeof createPresence<C>>
