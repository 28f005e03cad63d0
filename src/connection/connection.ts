// A live WebSocket connection, independent of `ws`: it talks to a Transport.
//
// Lifecycle invariant: `closed` becomes true exactly once, before any cleanup
// runs, and nothing is sent or subscribed after it. Whoever notices the end
// first (our close(), the peer's close, an error, a terminate) calls
// `markClosed()`; only the call that flips the flag returns true, and only
// that caller runs cleanup.
import type { ConnId } from '../hub/hub.js'
import { WindowCounter } from '../rate/token-bucket.js'
import { noopMeter, outKind, type Meter, type MeterCounts } from '../metrics.js'
import type { Role } from '../protocol/wire.js'

export { canDraw, type Role } from '../protocol/wire.js'

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
  /**
   * Optional: write `framed` (a complete WebSocket frame carrying `data`)
   * as is, when nothing else is queued ahead of it; otherwise send(data).
   */
  sendFramed? (framed: Buffer, data: Buffer | string): void
}

/**
 * An unmasked, final, binary WebSocket frame (RFC 6455 §5.2) carrying
 * `data`: header and payload in one buffer, ready to be written to any
 * server-side socket.
 */
export function wsFrame (data: Buffer | string): Buffer {
  const text = typeof data === 'string'
  const len = text ? Buffer.byteLength(data) : data.length
  const head = len < 126 ? 2 : len < 65536 ? 4 : 10
  const frame = Buffer.allocUnsafe(head + len)
  frame[0] = text ? 0x81 : 0x82 // FIN, opcode 1 (text) or 2 (binary)
  if (head === 2) {
    frame[1] = len
  } else if (head === 4) {
    frame[1] = 126
    frame.writeUInt16BE(len, 2)
  } else {
    frame[1] = 127
    frame.writeUInt32BE(Math.floor(len / 2 ** 32), 2)
    frame.writeUInt32BE(len >>> 0, 6)
  }
  if (text) frame.write(data, head)
  else data.copy(frame, head)
  return frame
}

/**
 * The last text message sent, framed. A loop that sends one string to many
 * connections (a presence broadcast) then frames and encodes it once, not
 * once per connection. Holds one message at most.
 */
let lastText: string | null = null
let lastTextFrame: Buffer = Buffer.alloc(0)
function textFrame (text: string): Buffer {
  if (text !== lastText) {
    lastTextFrame = wsFrame(text)
    lastText = text
  }
  return lastTextFrame
}

/**
 * One message for many connections (a tick's UPDATES, a presence event, a
 * stream message): built once by its broadcaster, framed once, on first
 * use, then written unchanged to every socket. Per connection the broadcast
 * costs the write and nothing else.
 */
export class SharedFrame {
  readonly data: Buffer | string
  /** payload bytes (UTF-8 for text), counted once */
  readonly bytes: number
  private _framed: Buffer | null = null
  constructor (data: Buffer | string) {
    this.data = data
    this.bytes = typeof data === 'string' ? Buffer.byteLength(data) : data.length
  }

  get framed (): Buffer { return (this._framed ??= wsFrame(this.data)) }
}

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
  /** heartbeats sent without a pong since */
  missedPongs = 0
  closeCode: number | null = null
  /** since when pending output has been over the cap (null: it is not) */
  overSince: number | null = null
  /** sends refused because the buffer was over the cap */
  dropped = 0
  private readonly limits: ConnectionLimits
  // Allocated on first use: most connections never send a bad or rate-limited message.
  private _badMessages: WindowCounter | null = null
  private _rateLimited: WindowCounter | null = null
  private readonly sendBufferBytes: number
  private readonly counts: MeterCounts
  private readonly frames: { count: number }
  private _closed = false

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
    if (!this.admits(must)) return false
    let bytes: number
    if (typeof data === 'string' && this.transport.sendFramed !== undefined) {
      const framed = textFrame(data)
      this.transport.sendFramed(framed, data)
      bytes = framed.length - (framed[1] === 126 ? 4 : framed[1] === 127 ? 10 : 2)
    } else {
      this.transport.send(data)
      bytes = typeof data === 'string' ? Buffer.byteLength(data) : data.length
    }
    this.sent(data, bytes)
    return true
  }

  /** send(frame.data, must), but written pre-framed when the transport can: same checks, same accounting. */
  sendShared (frame: SharedFrame, must = false): boolean {
    if (!this.admits(must)) return false
    const data = frame.data
    if (this.transport.sendFramed !== undefined) this.transport.sendFramed(frame.framed, data)
    else this.transport.send(data)
    this.sent(data, frame.bytes)
    return true
  }

  /** Open, and under the cap (twice the cap when `must`); a refusal counts as dropped. */
  private admits (must: boolean): boolean {
    if (this._closed) return false
    if (this.transport.bufferedAmount > (must ? 2 * this.sendBufferBytes : this.sendBufferBytes)) {
      this.dropped++
      return false
    }
    return true
  }

  /** One message of `bytes` payload bytes written: per connection, per kind, and for the tick's frame budget. */
  private sent (data: Buffer | string, bytes: number): void {
    const kind = outKind(data)
    this.frames.count++
    this.messagesOut++
    this.bytesOut += bytes
    this.counts.messagesOut[kind]++
    this.counts.bytesOut[kind] += bytes
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
