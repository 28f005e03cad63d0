// Who is on a canvas, and where their cursors are, batched per tick.
//
// The roster itself is the hub's canvas topic (the single source of truth);
// this only queues what changed since the last tick: joins, leaves and
// cursor moves. A tick sends each canvas at most one `presence` message and
// one CURSORS frame, each encoded once for all its clients. A connection's
// cursor moves at most once per tick (the last position wins) and is never
// persisted.
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
}

interface Pending {
  joined: Map<ConnId, { connectionId: number, name: string }>
  left: Set<ConnId>
  cursors: Map<ConnId, { connectionId: number, x: number, y: number }>
}

export function createPresence<C extends PresenceClient> (opts: PresenceOptions<C>) {
  const { hub } = opts
  const pending = new Map<string, Pending>()
  /**
   * Clients that were sent their roster. Events go to them only: a client
   * still waiting for its roster will get one that already reflects them.
   * (One that got its roster after a join in the same tick may hear of it
   * twice; joins and leaves are idempotent for a client.)
   */
  const hasRoster = new WeakSet<C>()

  function of (canvasId: string): Pending {
    let p = pending.get(canvasId)
    if (p === undefined) pending.set(canvasId, (p = { joined: new Map(), left: new Set(), cursors: new Map() }))
    return p
  }

  /** Queue the join, for the others. */
  function join (client: C): void {
    of(client.canvasId).joined.set(client.id, { connectionId: client.id, name: client.user.name })
  }

  /** The newcomer's own view of who is here (sent once it has the canvas). */
  function sendRoster (client: C): void {
    const subs = hub.subscribers(canvasTopic(client.canvasId))
    const roster = []
    for (const c of subs.values()) {
      if (roster.length >= opts.maxList) break
      roster.push({ connectionId: c.id, name: c.user.name })
    }
    client.send(JSON.stringify({ type: 'presence', canvas: client.canvasId, joined: roster, left: [], count: subs.size }))
    hasRoster.add(client)
  }

  function leave (client: C): void {
    const p = of(client.canvasId)
    p.cursors.delete(client.id)
    // joined and gone within one tick: nobody needs to hear of it
    if (!p.joined.delete(client.id)) p.left.add(client.id)
  }

  function cursor (client: C, x: number, y: number): void {
    of(client.canvasId).cursors.set(client.id, { connectionId: client.id, x, y })
  }

  function flush (): void {
    for (const [canvasId, p] of pending) {
      pending.delete(canvasId)
      const subs = hub.subscribers(canvasTopic(canvasId))
      if (subs.size === 0) continue
      if (p.joined.size > 0 || p.left.size > 0) {
        const joined = [...p.joined.values()].slice(0, opts.maxList)
        const msg = JSON.stringify({ type: 'presence', canvas: canvasId, joined, left: [...p.left], count: subs.size })
        for (const c of subs.values()) if (hasRoster.has(c)) c.send(msg)
      }
      if (p.cursors.size > 0) {
        const frame = encodeCursors([...p.cursors.values()].slice(0, 65535))
        for (const c of subs.values()) c.send(frame)
      }
    }
  }

  return { join, sendRoster, leave, cursor, flush }
}

export type Presence<C extends PresenceClient = PresenceClient> = ReturnType<typeof createPresence<C>>
