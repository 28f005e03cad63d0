// A live WebSocket connection, independent of `ws`: it talks to a Transport.
//
// Lifecycle invariant: `closed` becomes true exactly once, before any cleanup
// runs, and nothing is sent or subscribed after it. Whoever notices the end
// first (our close(), the peer's close, an error, a terminate) calls
// `markClosed()`; only the call that flips the flag returns true, and only
// that caller runs cleanup.
import type { CanvasClient } from '../canvas/canvas-service.js'
import type { ConnId } from '../hub/hub.js'
import { WindowCounter } from '../rate/token-bucket.js'
import { noopMeter, outKind, type Meter, type MeterCounts } from '../metrics.js'

export type Role = 'viewer' | 'painter' | 'admin'

export interface Principal {
  /** JWT sub */
  id: string
  name: string
  role: Role
  /** token expiry, seconds since the epoch (0 for anonymous viewers) */
  exp: number
}

export interface Transport {
  send (data: Buffer | string): void
  readonly bufferedAmount: number
  close (code: number, reason: string): void
  ping (): void
  terminate (): void
}

export const canDraw = (role: Role) => role === 'painter' || role === 'admin'

export interface ConnectionLimits {
  /** over this many pending output bytes nothing more is queued */
  sendBufferBytes: number
  badMessageWindowMs: number
  rateAbuseWindowMs: number
  /** messages and bytes sent, by kind, are counted here (default: nowhere) */
  meter?: Meter
}

export class Connection implements CanvasClient {
  readonly id: ConnId
  readonly transport: Transport
  user: Principal
  readonly canvasId: string
  readonly ip: string
  readonly connectedAt = Date.now()
  canvasSeq: number | null = null
  messagesIn = 0
  messagesOut = 0
  bytesIn = 0
  bytesOut = 0
  /** heartbeats sent without a pong since */
  missedPongs = 0
  closeCode: number | null = null
  /** since when pending output has been over the cap (null: it is not) */
  overSince: number | null = null
  /** sends refused because the buffer was over the cap */
  dropped = 0
  readonly badMessages: WindowCounter
  readonly rateLimited: WindowCounter
  private readonly sendBufferBytes: number
  private readonly counts: MeterCounts
  private _closed = false

  constructor (id: ConnId, transport: Transport, user: Principal, canvasId: string, ip: string, limits: ConnectionLimits) {
    this.id = id
    this.transport = transport
    this.user = user
    this.canvasId = canvasId
    this.ip = ip
    this.sendBufferBytes = limits.sendBufferBytes
    this.counts = (limits.meter ?? noopMeter).counts
    this.badMessages = new WindowCounter(limits.badMessageWindowMs)
    this.rateLimited = new WindowCounter(limits.rateAbuseWindowMs)
  }

  get closed (): boolean { return this._closed }
  get bufferedBytes (): number { return this.transport.bufferedAmount }

  /**
   * Queue data unless closed or over the send buffer cap: memory per
   * connection stays bounded by the cap plus one message. `must` (stream
   * messages, which cannot be skipped and resynced like canvas frames) may
   * use up to twice the cap. Returns false when not sent; the caller decides
   * whether that needs a resync or a close.
   */
  send (data: Buffer | string, must = false): boolean {
    if (this._closed) return false
    if (this.transport.bufferedAmount > (must ? 2 * this.sendBufferBytes : this.sendBufferBytes)) {
      this.dropped++
      return false
    }
    this.transport.send(data)
    const bytes = typeof data === 'string' ? Buffer.byteLength(data) : data.length
    const kind = outKind(data)
    this.messagesOut++
    this.bytesOut += bytes
    this.counts.messagesOut[kind]++
    this.counts.bytesOut[kind] += bytes
    return true
  }

  /** Start a close handshake with `code`; the transport's close event finishes it. */
  close (code: number, reason: string): void {
    if (this._closed) return
    this.closeCode = code
    this.transport.close(code, reason)
  }

  /** Returns true for the one caller that gets to run cleanup. */
  markClosed (code: number): boolean {
    if (this._closed) return false
    this._closed = true
    this.closeCode ??= code
    return true
  }
}
