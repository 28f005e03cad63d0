// What the user drew, on its way to the server. Drawing never waits on the
// network: pixels queue here (up to QUEUE_CAP while offline or cooling down)
// and go out as PIXELS and RECT ops no larger than the server accepts, at the
// pace of a local copy of the server's token bucket (hello.limits), so a
// burst becomes a visible cooldown instead of refused pixels.
//
// No pixel it accepted is lost silently: an op stays tracked until the
// server's commit barrier (`sync` -> `synced`) says it was committed or
// refused. Its pixels are `unconfirmed` from the moment they are sent until
// an UPDATES record or a SNAPSHOT shows them; a `synced` comes after the
// UPDATES of everything committed before it, so a pixel still unconfirmed
// then was refused at commit time (UNAVAILABLE) and is sent again (at most
// MAX_TRIES times, then reported not drawn). Ops accepted on a connection
// that died before their `synced` are checked the same way against what the
// next connection shows (replay or snapshot) and sent again when missing:
// the server may have died before committing them.
import { PIXELS_HEADER_BYTES, PIXEL_RECORD_BYTES, encodePixels, encodeRect, writePixelRecord, type Limits, type Role } from '../protocol/wire.js'

export const QUEUE_CAP = 5000
/** The local bucket fills a little slower than the server's, so clock skew does not cause refusals. */
const LOCAL_RATE = 0.9

/** How often one pixel is sent before it is reported not drawn. */
export const MAX_TRIES = 3
/** Syncs left unanswered at once; the server refuses more than MAX_PENDING_SYNCS (16). */
const MAX_SYNCS = 8

type Item = ({ kind: 'px', x: number, y: number, color: number } | { kind: 'rect', x: number, y: number, w: number, h: number, color: number }) & { tries?: number }
interface Op { id: number, items: Item[] }
type Pixel = { x: number, y: number, color: number }
const keyOf = (x: number, y: number): number => y * 65536 + x

export interface Sink {
  /** false when not live */
  send (data: Uint8Array | string): boolean
  bufferedAmount: number
  /** a pixel left the queue */
  sent (x: number, y: number): void
  /** a pixel is back in the queue */
  requeued (x: number, y: number, color: number): void
  /** pixels the server did not draw and that are not sent again */
  notDrawn (pixels: Pixel[]): void
}

export interface Cooldown { waitMs: number, queued: number }

export class Outbox {
  private items: Item[] = []
  private queuedPixels = 0
  private tokens = 0
  private refilledAt = performance.now()
  private blockedUntil = 0
  private limits: Limits | null = null
  private role: Role = 'viewer'
  /**
   * Ops sent but not yet passed by the server: each is followed by a ping
   * with its id, and the server answers in order, so an error that arrives
   * before an op's pong is about that op (the oldest one in flight).
   */
  private inflight: Op[] = []
  /** Ops the server passed (pong), waiting for the `synced` after them. */
  private accepted: Op[] = []
  /** Ops accepted on a connection that died before their `synced`. */
  private leftovers: Op[] = []
  /** Sent pixels not yet shown by the server: key -> colour. */
  private readonly unconfirmed = new Map<number, number>()
  private syncsOut = 0
  private syncWanted = false
  private nextId = 1

  constructor (private readonly sink: Sink) {}

  /** A new connection said who we are and what it accepts. */
  configure (limits: Limits, role: Role): void {
    this.limits = limits
    this.role = role
    // The server's bucket as it stands at the hello (it outlives reconnects):
    // whole pixels available, or the part of the next one already refilled.
    const available = limits.pixelsAvailable ?? limits.pixelBurst
    const waitMs = limits.nextPixelInMs ?? 0
    this.tokens = Math.min(limits.pixelBurst, available >= 1 ? available : Math.max(0, 1 - waitMs * limits.pixelRate / 1000))
    this.refilledAt = performance.now()
  }

  /**
   * The r/place-style budget: whole pixels ready now, or how long until the
   * next one (at the pace this page sends); null when there is no budget
   * (admins, viewers, before a hello).
   */
  budget (): { ready: number, nextInMs: number } | null {
    const l = this.limits
    if (l === null || this.role === 'admin' || this.role === 'viewer') return null
    this.refill(performance.now())
    const free = this.tokens - this.queuedPixels
    if (free >= 1) return { ready: Math.floor(free), nextInMs: 0 }
    return { ready: 0, nextInMs: Math.ceil((1 - free) * 1000 / (l.pixelRate * LOCAL_RATE)) }
  }

  get queued (): number {
    return this.queuedPixels
  }

  /** Largest rect the server would take from us, in pixels. */
  get maxRect (): number {
    const l = this.limits
    if (l === null) return 0
    return this.role === 'admin' ? l.maxRectPixels : Math.min(l.maxRectPixels, l.pixelBurst)
  }

  /** Queue a pixel; false (and nothing queued) when the queue is full. */
  pixel (x: number, y: number, color: number): boolean {
    if (this.queuedPixels + 1 > QUEUE_CAP) return false
    this.items.push({ kind: 'px', x, y, color })
    this.queuedPixels++
    return true
  }

  rect (x: number, y: number, w: number, h: number, color: number): boolean {
    if (this.queuedPixels + w * h > QUEUE_CAP && this.queuedPixels > 0) return false
    this.items.push({ kind: 'rect', x, y, w, h, color })
    this.queuedPixels += w * h
    return true
  }

  /** Pixels sent and not yet confirmed or settled. */
  get unsettled (): number {
    return this.unconfirmed.size
  }

  /** Drop everything queued or unsettled (canvas reset, sign out); returns the pixel count dropped. */
  clear (): number {
    const n = this.queuedPixels + this.unconfirmed.size
    this.items = []
    this.inflight = []
    this.accepted = []
    this.leftovers = []
    this.unconfirmed.clear()
    this.queuedPixels = 0
    return n
  }

  /** The server said RATE_LIMITED: its bucket is empty for retryAfterMs. */
  serverCooldown (retryAfterMs: number): void {
    this.tokens = 0
    this.refilledAt = performance.now()
    this.blockedUntil = Math.max(this.blockedUntil, performance.now() + retryAfterMs)
  }

  /** How long until the queue can move, or null when nothing waits on the rate limit. */
  cooldown (): Cooldown | null {
    const l = this.limits
    const now = performance.now()
    const serverWait = Math.max(0, this.blockedUntil - now)
    if (this.items.length === 0 || l === null) return serverWait > 0 ? { waitMs: serverWait, queued: 0 } : null
    if (this.role === 'admin') return null
    this.refill(now)
    const first = this.items[0]
    const need = first.kind === 'rect' ? first.w * first.h : 1
    if (serverWait === 0 && this.tokens >= need) return null
    // Until the whole queue can have gone out.
    const wait = serverWait + Math.max(0, this.queuedPixels - this.tokens) * 1000 / (l.pixelRate * LOCAL_RATE)
    return { waitMs: wait, queued: this.queuedPixels }
  }

  /** Send what the budget allows now, then a `sync` after what was sent. */
  flush (): void {
    this.sendOps()
    if (this.syncWanted && this.syncsOut < MAX_SYNCS && this.inflight.length + this.accepted.length > 0) {
      if (this.sink.send(JSON.stringify({ type: 'sync', id: `s${this.nextId - 1}` }))) {
        this.syncsOut++
        this.syncWanted = false
      }
    }
  }

  private sendOps (): void {
    const l = this.limits
    if (l === null || this.items.length === 0) return
    const now = performance.now()
    if (now < this.blockedUntil) return
    this.refill(now)
    const exempt = this.role === 'admin'
    while (this.items.length > 0 && this.sink.bufferedAmount < 256 * 1024) {
      const first = this.items[0]
      if (first.kind === 'rect') {
        const n = first.w * first.h
        if (!exempt && this.tokens < n) return
        if (!this.sink.send(encodeRect(first.x, first.y, first.w, first.h, first.color))) return
        this.track(this.items.splice(0, 1))
        this.queuedPixels -= n
        if (!exempt) this.tokens -= n
        for (let y = first.y; y < first.y + first.h; y++) for (let x = first.x; x < first.x + first.w; x++) this.sent(x, y, first.color)
        continue
      }
      const byBytes = Math.floor((l.maxMessageBytes - PIXELS_HEADER_BYTES) / PIXEL_RECORD_BYTES)
      let room = Math.min(l.maxStrokePixels, byBytes, exempt ? Infinity : Math.floor(this.tokens), exempt ? Infinity : l.pixelBurst)
      if (room < 1) return
      let n = 0
      while (n < this.items.length && n < room && this.items[n].kind === 'px') n++
      room = n
      const records = new Uint8Array(room * PIXEL_RECORD_BYTES)
      for (let i = 0; i < room; i++) {
        const it = this.items[i] as Item & { kind: 'px' }
        writePixelRecord(records, i * PIXEL_RECORD_BYTES, it.x, it.y, it.color)
      }
      if (!this.sink.send(encodePixels(records))) return
      const sent = this.items.splice(0, room)
      this.track(sent)
      this.queuedPixels -= room
      if (!exempt) this.tokens -= room
      for (const it of sent) this.sent(it.x, it.y, it.color)
    }
  }

  private sent (x: number, y: number, color: number): void {
    this.unconfirmed.set(keyOf(x, y), color)
    this.sink.sent(x, y)
  }

  private track (items: Item[]): void {
    const id = this.nextId++
    this.inflight.push({ id, items })
    this.syncWanted = true
    this.sink.send(JSON.stringify({ type: 'ping', id: `op${id}` }))
  }

  /** A pong: every op up to this one was passed (accepted, or refused before it). */
  passed (pongId: unknown): void {
    if (typeof pongId !== 'string' || !pongId.startsWith('op')) return
    const id = Number(pongId.slice(2))
    while (this.inflight.length > 0 && this.inflight[0].id <= id) this.accepted.push(this.inflight.shift()!)
  }

  /** Records (x u16, y u16, r, g, b) the server showed: those of our sent pixels are confirmed. */
  seen (records: Uint8Array, count: number): void {
    if (this.unconfirmed.size === 0) return
    for (let i = 0, o = 0; i < count; i++, o += PIXEL_RECORD_BYTES) {
      const key = keyOf((records[o] << 8) | records[o + 1], (records[o + 2] << 8) | records[o + 3])
      const c = this.unconfirmed.get(key)
      if (c !== undefined && c === ((records[o + 4] << 16) | (records[o + 5] << 8) | records[o + 6])) this.unconfirmed.delete(key)
    }
  }

  /** A SNAPSHOT was loaded: sent pixels it shows in their colour are confirmed. */
  seenPicture (colorAt: (x: number, y: number) => number): void {
    for (const [key, c] of this.unconfirmed) if (colorAt(key % 65536, Math.floor(key / 65536)) === c) this.unconfirmed.delete(key)
  }

  /**
   * The answer to a `sync`: every op sent before it was committed (and shown
   * already) or refused. `s<N>`: ops up to N on this connection; `r`: the
   * ops left over from a connection that died.
   */
  synced (id: unknown): void {
    if (typeof id !== 'string') return
    this.syncsOut = Math.max(0, this.syncsOut - 1)
    let settled: Op[]
    if (id === 'r') {
      settled = this.leftovers
      this.leftovers = []
    } else if (id.startsWith('s')) {
      const upTo = Number(id.slice(1))
      settled = this.accepted.filter((op) => op.id <= upTo)
      this.accepted = this.accepted.filter((op) => op.id > upTo)
    } else return
    this.settle(settled)
  }

  /** Live again: ask the new connection to settle what the old one left. */
  resumed (): void {
    this.syncsOut = 0
    if (this.leftovers.length > 0 && this.sink.send('{"type":"sync","id":"r"}')) this.syncsOut++
  }

  /** Ops known committed or refused: a pixel not shown in its colour goes again, or is reported. */
  private settle (ops: Op[]): void {
    const again: Item[] = []
    const lost: Pixel[] = []
    for (const op of ops) {
      for (const it of op.items) {
        const missing = pixelsOf([it]).filter((p) => this.unconfirmed.get(keyOf(p.x, p.y)) === p.color)
        for (const p of missing) this.unconfirmed.delete(keyOf(p.x, p.y))
        if (missing.length === 0) continue
        const tries = (it.tries ?? 1) + 1
        if (tries > MAX_TRIES) lost.push(...missing)
        else again.push(...missing.map((p) => ({ kind: 'px' as const, ...p, tries })))
      }
    }
    if (again.length > 0) this.requeue(again)
    if (lost.length > 0) this.sink.notDrawn(lost)
  }

  /**
   * The server refused the oldest op in flight. Over the rate limit, its
   * pixels go back to the head of the queue (sent again after the cooldown);
   * otherwise they are returned, dropped, for the caller to unshow.
   */
  refused (code: string): Pixel[] {
    const op = this.inflight.shift()
    if (op === undefined) return []
    if (code === 'RATE_LIMITED') {
      this.requeue(op.items)
      return []
    }
    const dropped = pixelsOf(op.items)
    for (const p of dropped) if (this.unconfirmed.get(keyOf(p.x, p.y)) === p.color) this.unconfirmed.delete(keyOf(p.x, p.y))
    return dropped
  }

  /**
   * The connection dropped: ops the server never passed are sent again after
   * reconnecting; ops it passed wait for what the next connection shows.
   */
  connectionLost (): void {
    const items = this.inflight.flatMap((op) => op.items)
    this.inflight = []
    this.leftovers.push(...this.accepted)
    this.accepted = []
    this.syncsOut = 0
    this.syncWanted = false
    this.requeue(items)
  }

  private requeue (items: Item[]): void {
    for (const p of pixelsOf(items)) if (this.unconfirmed.get(keyOf(p.x, p.y)) === p.color) this.unconfirmed.delete(keyOf(p.x, p.y))
    this.items.unshift(...items)
    for (const it of items) this.queuedPixels += it.kind === 'rect' ? it.w * it.h : 1
    for (const p of pixelsOf(items)) this.sink.requeued(p.x, p.y, p.color)
  }

  private refill (now: number): void {
    const l = this.limits
    if (l === null) return
    this.tokens = Math.min(l.pixelBurst, this.tokens + (now - this.refilledAt) * l.pixelRate * LOCAL_RATE / 1000)
    this.refilledAt = now
  }
}

function pixelsOf (items: Item[]): Pixel[] {
  const out: Pixel[] = []
  for (const it of items) {
    if (it.kind === 'px') out.push(it)
    else for (let y = it.y; y < it.y + it.h; y++) for (let x = it.x; x < it.x + it.w; x++) out.push({ x, y, color: it.color })
  }
  return out
}
