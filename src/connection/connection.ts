// A live WebSocket connection, independent of `ws`: it talks to a Transport.
//
// States: open -> closing -> closed, or open -> closed. `close()` acts only
// while open, so the first reason to end a connection is the one recorded
// (a kick followed by a heartbeat timeout stays a kick). `closed` is set
// exactly once, before any cleanup runs, and nothing is sent or subscribed
// after it: whoever notices the end first (the peer's close, an error, a
// terminate) calls `markClosed()`; only the call that flips it returns true,
// and only that caller runs cleanup.
import type { ConnId } from '../hub/hub.js'
import { WindowCounter } from '../rate/token-bucket.js'
import { noopMeter, outKind, type Meter, type MeterCounts } from '../metrics.js'
import type { Role } from '../protocol/wire.js'
import type { DisconnectReason } from './disconnect.js'

export { canDraw, type Role } from '../protocol/wire.js'

export interface Principal {
  /** JWT sub */
  id: string
  name: string
  role: Role
  /** token expiry, seconds since the epoch (0 for anonymous viewers) */
  exp: number
}

/**
 * One message for many connections (a tick's UPDATES, a presence event, a
 * stream message), built once by its broadcaster and handed as is to every
 * connection. The
 * transport may cache its own framing of `data` in `framed` on first use,
 * so each further connection costs a write and nothing else. Text or
 * binary, like any message.
 */
export class SharedFrame {
  readonly data: Buffer | string
  /** payload bytes (UTF-8 for text), counted once */
  readonly bytes: number
  /** its metrics kind (metrics.ts OUT_KINDS), found once, not per connection */
  readonly kind: number
  /** the transport's framing of `data`, filled by the transport on first use */
  framed: Buffer | undefined = undefined
  constructor (data: Buffer | string) {
    this.data = data
    this.bytes = typeof data === 'string' ? Buffer.byteLength(data) : data.length
    this.kind = outKind(data)
  }
}

export interface Transport {
  send (data: Buffer | string): void
  readonly bufferedAmount: number
  close (code: number, reason: string): void
  ping (): void
  terminate (): void
  /** Optional: write a shared frame, framed once for every connection it goes to; otherwise send(frame.data) is used. */
  sendShared? (frame: SharedFrame): void
}

export type ConnectionState = 'open' | 'closing' | 'closed'

export interface ConnectionLimits {
  /** over this many pending output bytes nothing more is queued */
  sendBufferBytes: number
  badMessageWindowMs: number
  rateAbuseWindowMs: number
  /** messages and bytes sent, by kind, are counted here (default: nowhere) */
  meter?: Meter
  /** every message written is counted here: the app's frame counter (Hub.frames; default: this connection's own) */
  frames?: { count: number }
}

export class Connection {
  readonly id: ConnId
  readonly transport: Transport
  user: Principal
  readonly canvasId: string
  readonly ip: string
  readonly connectedAt = Date.now()
  messagesIn = 0
  messagesOut = 0
  bytesIn = 0
  bytesOut = 0
  /** sends refused because the buffer was over the cap */
  dropped = 0
  private readonly limits: ConnectionLimits
  // Allocated on first use: most connections never send a bad or rate-limited message.
  private _badMessages: WindowCounter | null = null
  private _rateLimited: WindowCounter | null = null
  private readonly sendBufferBytes: number
  private readonly counts: MeterCounts
  private readonly frames: { count: number }
  private _state: ConnectionState = 'open'
  private _closeCode: number | null = null

  constructor (id: ConnId, transport: Transport, user: Principal, canvasId: string, ip: string, limits: ConnectionLimits) {
    this.id = id
    this.transport = transport
    this.user = user
    this.canvasId = canvasId
    this.ip = ip
    this.sendBufferBytes = limits.sendBufferBytes
    this.counts = (limits.meter ?? noopMeter).counts
    this.frames = limits.frames ?? { count: 0 }
    this.limits = limits
  }

  get badMessages (): WindowCounter { return (this._badMessages ??= new WindowCounter(this.limits.badMessageWindowMs)) }
  get rateLimited (): WindowCounter { return (this._rateLimited ??= new WindowCounter(this.limits.rateAbuseWindowMs)) }
  get state (): ConnectionState { return this._state }
  get closed (): boolean { return this._state === 'closed' }
  /** the code the connection ended (or is ending) with: the first close's, else the peer's; null while open */
  get closeCode (): number | null { return this._closeCode }
  get bufferedBytes (): number { return this.transport.bufferedAmount }

  /**
   * Queue data unless closed or over the send buffer cap: memory per
   * connection stays bounded by the cap plus one message. `must` (stream
   * messages, which cannot be skipped and resynced like canvas frames) may
   * use up to twice the cap. Returns false when not sent; the caller decides
   * whether that needs a resync or a close.
   */
  send (data: Buffer | string, must = false): boolean {
    if (!this.admits(must)) return false
    this.transport.send(data)
    this.sent(outKind(data), typeof data === 'string' ? Buffer.byteLength(data) : data.length)
    return true
  }

  /** send(frame.data), framed once by the transport when it can: same checks, same accounting. */
  sendShared (frame: SharedFrame, must = false): boolean {
    if (!this.admits(must)) return false
    if (this.transport.sendShared !== undefined) this.transport.sendShared(frame)
    else this.transport.send(frame.data)
    this.sent(frame.kind, frame.bytes)
    return true
  }

  /** Not closed, and under the cap (twice the cap when `must`); a refusal counts as dropped. */
  private admits (must: boolean): boolean {
    if (this._state === 'closed') return false
    if (this.transport.bufferedAmount > (must ? 2 * this.sendBufferBytes : this.sendBufferBytes)) {
      this.dropped++
      return false
    }
    return true
  }

  /** One message of `kind` and `bytes` payload bytes written: per connection, per kind, and for the tick's frame budget. */
  private sent (kind: number, bytes: number): void {
    this.frames.count++
    this.messagesOut++
    this.bytesOut += bytes
    this.counts.messagesOut[kind]++
    this.counts.bytesOut[kind] += bytes
  }

  /**
   * Start the close handshake for `d`, if open; the transport's close event
   * finishes it. Returns false (and does nothing) once a close has started:
   * the first reason wins.
   */
  close (d: DisconnectReason): boolean {
    if (this._state !== 'open') return false
    this._state = 'closing'
    this._closeCode = d.code
    this.transport.close(d.code, d.reason)
    return true
  }

  /**
   * The transport started the close handshake itself, with `code` (the
   * WebSocket layer refusing a frame: 1002, 1007, 1008, 1009): record it as
   * ours, if open.
   */
  closing (code: number): boolean {
    if (this._state !== 'open') return false
    this._state = 'closing'
    this._closeCode = code
    return true
  }

  /** Returns true for the one caller that gets to run cleanup; `code` is what the transport saw (the peer's, or 1006). */
  markClosed (code: number): boolean {
    if (this._state === 'closed') return false
    this._state = 'closed'
    this._closeCode ??= code
    return true
  }
}
