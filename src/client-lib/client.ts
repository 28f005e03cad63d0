// PixelwireClient: one canvas connection for programs and pages. It keeps a
// local copy of the canvas (SNAPSHOT, then UPDATES), comes back after any
// drop (resume with since+epoch, backoff with jitter, the close-code table
// of contract §6), renews its token in-band, paces draws with a local copy
// of the pixel budget and settles each draw's promise by the commit barrier
// (`sync` → `synced`, contract §5 v1.1). Built on the wire module only: no
// Node-only API, the WebSocket constructor is an option.
//
// How a draw is settled (docs/protocol.md, "Client library"):
// - each op sent is followed by a `ping` with its id; the server answers in
//   order, so an `error` that arrives before that pong is about that op;
// - after a round of ops a `sync` follows; by its `synced` every op before
//   it was committed (and its UPDATES sent to us) or refused. An op counts
//   as confirmed once every one of its pixels came back in an UPDATES
//   record after it was sent (with its colour), and the `synced` after it
//   arrived. An accepted op whose pixels did not all come back lost its
//   commit (a failed batch): it is sent again.
// - on a dropped connection, ops not yet confirmed wait for the resume:
//   those whose pixels came back (in the replay, or, after a snapshot
//   resume, already on the picture in their colours) are confirmed; the rest
//   are sent again.
import {
  Op as WireOp, PIXEL_RECORD_BYTES, UPDATES_HEADER_BYTES, decodeServerBinary, decodeUpdates, encodeCursor, encodePixel, encodePixels,
  encodeRect, readRgb, readU16, updatesCount, updatesSeq, writePixelRecord,
  type CursorEntry, type HelloMessage, type Limits, type PresenceMessage, type Role, type StreamMessage,
  type CanvasMessage, type BroadcastMessage, type ErrorMessage
} from '../protocol/wire.js'
import { Emitter } from './emitter.js'
import { LocalBudget } from './local-budget.js'
import { LocalCanvas, snapshotRows } from './local-canvas.js'

/** What the client needs of a WebSocket: the browser's, or the `ws` package's (Node 20 has no global one). */
export interface SocketLike {
  readonly readyState: number
  readonly bufferedAmount: number
  binaryType: string
  onopen: ((ev: any) => void) | null
  onmessage: ((ev: { data: unknown }) => void) | null
  onclose: ((ev: { code: number, reason: string }) => void) | null
  onerror: ((ev: any) => void) | null
  send (data: string | Uint8Array): void
  close (code?: number, reason?: string): void
  /**
   * Node's `ws` package is also an EventEmitter: when the socket has `on`
   * and `removeListener`, messages are taken from its `message` event
   * (`(data, isBinary)`), with no MessageEvent made for each one as its
   * `onmessage` makes. Feature-detected; a browser's socket has neither.
   */
  on?: (event: 'message', listener: (data: unknown, isBinary: boolean) => void) => unknown
  removeListener?: (event: 'message', listener: (data: unknown, isBinary: boolean) => void) => unknown
}

/** A WebSocket constructor; the third argument (options with `headers`) is passed only with `auth: 'header'`. */
export type WebSocketConstructor = new (url: string, protocols?: string | string[], ...rest: any[]) => unknown

export type ClientState = 'idle' | 'connecting' | 'live' | 'reconnecting' | 'closed'

export interface ClientOptions {
  /** the server's WebSocket endpoint, e.g. `ws://127.0.0.1:3000/ws` */
  url: string
  /** canvas id (default `main`) */
  canvas?: string
  /**
   * A valid token, asked before every connection attempt (`renew: false`)
   * and before the current one expires (`renew: true`: a later `exp` is
   * wanted, for the open socket); cache it as you like. Absent: anonymous
   * (needs the server's ANONYMOUS=read).
   */
  getToken?: (why: { renew: boolean }) => string | Promise<string>
  /** default: globalThis.WebSocket; in Node 20 pass the `ws` package's */
  WebSocket?: WebSocketConstructor
  /**
   * How the token travels (contract §1): `subprotocol` (default: works in
   * browsers, never in a URL), `header` (Authorization; Node's `ws` only),
   * `query` (`?token=`, for clients that can do neither).
   */
  auth?: 'subprotocol' | 'header' | 'query'
  /** renew the token in-band this long before its `exp` (at the latest half-way through what is left). Default 60 s */
  renewBeforeMs?: number
  /** false: never renew in-band (a 4401 then brings a new connection with a new token) */
  renew?: boolean
  /**
   * false: send no heartbeat pings and never give up a silent socket (a
   * load generator on a reliable link, which must not add work of its own
   * to the server's). The server's heartbeat still runs. Default true
   */
  heartbeat?: boolean
  /** reconnect backoff: base doubling to max, each wait drawn from [half, all] of it */
  backoff?: { baseMs?: number, maxMs?: number }
  /** pixels queued and in flight, at most (a draw beyond is refused QUEUE_FULL). Default 100,000 */
  maxQueuedPixels?: number
  /** unanswered `sync`s at most (the server allows MAX_PENDING_SYNCS, 16 by default). Default 8 */
  maxPendingSyncs?: number
  /** sends of one op after UNAVAILABLE or a lost commit, at most. Default 10 */
  maxAttempts?: number
  /** streams subscribed at most. Default 32 */
  maxStreams?: number
  /** server frames waiting to be applied (behind a SNAPSHOT being inflated) at most; beyond, reconnect. Default 10,000 */
  maxPendingFrames?: number
  /** random source for jitter (tests) */
  random?: () => number
  /**
   * Low-level mode, for load generators and relays that read pixels in
   * place: each UPDATES frame goes to this callback as it arrived (the whole
   * frame, header included, valid only during the call; records from
   * UPDATES_HEADER_BYTES), with the seq and record count its header holds,
   * and is neither decoded nor applied. No local picture is kept: a
   * SNAPSHOT is not inflated (`snapshot` still fires), `canvas` holds only
   * its size, seq and epoch, which is all a resume needs. No `updates`
   * events. Draw promises still settle, except that a snapshot resume cannot
   * show an in-flight op's pixels: those are sent again.
   */
  onUpdatesFrame?: (frame: Uint8Array, seq: number, count: number) => void
  /**
   * The socket's binaryType (default `arraybuffer`, what browsers need).
   * With the `ws` package, `nodebuffer` hands over each frame without the
   * copy into an ArrayBuffer that `arraybuffer` makes.
   */
  binaryType?: 'arraybuffer' | 'nodebuffer'
}

/** A draw's answer: the canvas seq at (or after) which it was confirmed committed. */
export interface DrawResult { seq: number }

/** A refused draw, subscribe, publish or renewal: the server's code, or the client's own (QUEUE_FULL, CLOSED, CANCELLED, CANVAS_RESET, NOT_LIVE). */
export class PixelwireError extends Error {
  readonly code: string
  readonly retryAfterMs?: number
  constructor (code: string, message: string, retryAfterMs?: number) {
    super(message)
    this.name = 'PixelwireError'
    this.code = code
    if (retryAfterMs !== undefined) this.retryAfterMs = retryAfterMs
  }
}

export interface StateDetail { code?: number, reason?: string, delayMs?: number }

export interface ClientEvents {
  state: (state: ClientState, detail: StateDetail) => void
  hello: (hello: HelloMessage) => void
  /** the picture was replaced by a SNAPSHOT (first connection, snapshot resume, reset) */
  snapshot: (canvas: LocalCanvas) => void
  /** an UPDATES frame was applied to the local canvas */
  updates: (u: { seq: number, count: number, records: Uint8Array }) => void
  presence: (p: PresenceMessage) => void
  cursors: (c: CursorEntry[]) => void
  /** a stream message (each offset once, in order, across reconnects) */
  message: (m: StreamMessage) => void
  /** a (re)subscription answered; `recovered: false` means messages were missed */
  subscribed: (s: { stream: string, offset: number, recovered?: boolean }) => void
  canvas: (m: CanvasMessage) => void
  broadcast: (m: BroadcastMessage) => void
  /**
   * An op was not applied for now (`RATE_LIMITED`, `UNAVAILABLE`): its
   * `pixels` wait `e.retryAfterMs` and are sent again (not a refusal; the
   * draw's promise is still pending).
   */
  retry: (e: PixelwireError, pixels: number) => void
  /** an error no request of ours was waiting for, or a problem of the client's own */
  error: (e: PixelwireError) => void
  /** the socket closed (a reconnect may follow: see `state`) */
  close: (code: number, reason: string) => void
}

/** Close codes after which reconnecting cannot help (contract §6; 1008 is docs/protocol.md's addition). */
const FATAL_CLOSES = new Set([1002, 1007, 1008, 1009, 4400, 4403, 4404])
const RATE_ABUSE_PAUSE_MS = 15_000
const HEARTBEAT_MAX_MS = 15_000
const SEND_BUFFER_PAUSE_BYTES = 1 << 20
/** Client-side close when the client cannot keep up applying frames (4000–4999: application codes). */
const CLOSE_CLIENT_LAGGING = 4000
const ID_PREFIX = 'pwc:'

interface Job { left: number, settled: boolean, resolve: (r: DrawResult) => void, reject: (e: Error) => void }

interface Op {
  job: Job
  /** packed records (pixels), or a rect */
  records?: Uint8Array
  rect?: { x: number, y: number, w: number, h: number, color: number }
  count: number
  attempts: number
  /** pixel key → colour of the pixels not yet seen in an UPDATES since sent; null while queued */
  unseen: Map<number, number> | null
  /** queued → sent (no pong yet) → accepted (pong, no error) → done / refused */
  state: 'queued' | 'sent' | 'accepted' | 'done'
  /** when last sent, if its tokens came from a full local bucket (LocalBudget.settle at its pong) */
  tookFullAt?: number
}

type Pending =
  | { kind: 'op', id: string, op: Op, errored: boolean }
  | { kind: 'sync', id: string, ops: Op[], errored: boolean }
  | { kind: 'subscribe' | 'unsubscribe' | 'auth', id: string, stream?: string, errored: boolean }
  /** a ping after fire-and-forget ops: errors before its pong are about them */
  | { kind: 'fence', id: string, errored: false }
  | { kind: 'publish', id: string, errored: boolean, resolve: (offset: number) => void, reject: (e: Error) => void }

interface StreamState { offset: number | null, waiters: Array<{ resolve: (s: { offset: number, recovered?: boolean }) => void, reject: (e: Error) => void }> }

const key = (x: number, y: number) => y * 65536 + x
// Module-local copies: a frame's hot path compares with constants, not imported bindings.
const OP_UPDATES = WireOp.UPDATES
const UPDATES_HEAD = UPDATES_HEADER_BYTES
const PRESENCE_PREFIX = '{"type":"presence",'

export class PixelwireClient extends Emitter<ClientEvents> {
  readonly canvas = new LocalCanvas()
  state: ClientState = 'idle'
  hello: HelloMessage | null = null

  private readonly opts: Required<Omit<ClientOptions, 'getToken' | 'WebSocket' | 'backoff' | 'onUpdatesFrame'>> & { backoff: { baseMs: number, maxMs: number } }
  /** low-level mode (ClientOptions.onUpdatesFrame): no local picture */
  private readonly onUpdatesFrame: ((frame: Uint8Array, seq: number, count: number) => void) | undefined
  private readonly getToken: ((why: { renew: boolean }) => string | Promise<string>) | undefined
  private readonly Socket: WebSocketConstructor
  private ws: SocketLike | null = null
  /** the current socket's `message` listener when it is Node's `ws` (SocketLike.on), removed with it */
  private wsListener: ((data: unknown, isBinary: boolean) => void) | null = null
  private gen = 0
  private attempt = 0
  private live = false
  private timers = new Set<ReturnType<typeof setTimeout>>()
  private reconnectTimer: ReturnType<typeof setTimeout> | undefined
  private pumpTimer: ReturnType<typeof setTimeout> | undefined
  private renewTimer: ReturnType<typeof setTimeout> | undefined
  private heartbeat: ReturnType<typeof setInterval> | undefined
  /** when the socket was last heard from, as of the last heartbeat check (or the open) */
  private lastHeard = 0
  /** a message arrived since the last heartbeat check: a flag per frame, the clock read once per check */
  private heard = false
  /** fire-and-forget ops (sendPixel/sendPixels) sent since the last ping: the next request is fenced after them */
  private unfenced = false
  private nextId = 1
  private firstLive: { promise: Promise<void>, resolve: () => void, reject: (e: Error) => void } | null = null

  // Frames are applied strictly in order; a SNAPSHOT being inflated holds the rest back.
  private frames: Array<string | Uint8Array> = []
  private applying = false

  // Draws.
  private queue: Op[] = []
  private queuedPixels = 0
  private inFlight: Op[] = []
  private unsynced: Op[] = []
  private pendingSyncs = 0
  private watch = new Map<number, Set<Op>>()
  private budget: LocalBudget | null = null
  private blockedUntil = 0
  private role: Role = 'viewer'
  private limits: Limits | null = null
  private resumedBySnapshot = false

  // Requests waiting for their pong (errors are about the oldest), and publishes for `published`.
  private pending: Pending[] = []
  private publishes: Array<Extract<Pending, { kind: 'publish' }>> = []
  private streams = new Map<string, StreamState>()

  constructor (options: ClientOptions) {
    super()
    const Socket = options.WebSocket ?? (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket
    if (Socket === undefined) throw new TypeError('no global WebSocket here: pass one as the WebSocket option (in Node 20, the `ws` package)')
    this.Socket = Socket
    this.getToken = options.getToken
    this.opts = {
      url: options.url,
      canvas: options.canvas ?? 'main',
      auth: options.auth ?? 'subprotocol',
      renewBeforeMs: options.renewBeforeMs ?? 60_000,
      renew: options.renew ?? true,
      heartbeat: options.heartbeat ?? true,
      backoff: { baseMs: options.backoff?.baseMs ?? 500, maxMs: options.backoff?.maxMs ?? 10_000 },
      maxQueuedPixels: options.maxQueuedPixels ?? 100_000,
      maxPendingSyncs: options.maxPendingSyncs ?? 8,
      maxAttempts: options.maxAttempts ?? 10,
      maxStreams: options.maxStreams ?? 32,
      maxPendingFrames: options.maxPendingFrames ?? 10_000,
      random: options.random ?? Math.random,
      binaryType: options.binaryType ?? 'arraybuffer'
    }
    this.onUpdatesFrame = options.onUpdatesFrame
  }

  /** Pixels queued or sent and not yet settled. */
  get unsettledPixels (): number {
    return this.queuedPixels
  }

  /**
   * Where the unsettled pixels are: `queued` (not sent yet: waiting for the
   * budget, a cooldown or the connection), `sent` (no pong yet: the server
   * has not read them), `accepted` (read and not refused; waiting for the
   * commit barrier, or for the resume after a dropped connection).
   * queued + sent + accepted = unsettledPixels.
   */
  drawStatus (): { queued: number, sent: number, accepted: number } {
    let queued = 0
    let sent = 0
    // (Ops of a refused draw still queued count until the pump drops them, as in unsettledPixels.)
    for (const op of this.queue) queued += op.count
    for (const op of this.inFlight) if (op.state === 'sent') sent += op.count
    return { queued, sent, accepted: this.queuedPixels - queued - sent }
  }

  /**
   * The r/place-style budget as the local copy sees it (the pixels still
   * queued already spent): whole pixels ready now, or the wait for the next
   * one. Null without a budget: before a hello, for admins and viewers.
   */
  budgetStatus (now = Date.now()): { ready: number, nextInMs: number } | null {
    if (this.budget === null || this.role === 'admin' || this.role === 'viewer') return null
    const queued = this.drawStatus().queued
    const free = this.budget.level(now) - queued
    if (free >= 1) return { ready: Math.floor(free), nextInMs: 0 }
    return { ready: 0, nextInMs: this.budget.wait(queued + 1, now) }
  }

  /**
   * How long until every queued pixel can have gone out (the local budget,
   * or the server's `retryAfterMs`), with the count waiting; null when
   * nothing waits on the rate (an empty queue, an admin, or the next op can
   * go now).
   */
  cooldown (now = Date.now()): { waitMs: number, queued: number } | null {
    const serverWait = Math.max(0, this.blockedUntil - now)
    const queued = this.drawStatus().queued
    if (queued === 0 || this.limits === null) return serverWait > 0 ? { waitMs: serverWait, queued: 0 } : null
    if (this.role === 'admin' || this.budget === null) return serverWait > 0 ? { waitMs: serverWait, queued } : null
    const head = this.queue[0]
    const need = Math.min(head.count, this.maxOpPixels(head.rect !== undefined))
    if (serverWait === 0 && this.budget.wait(need, now) === 0) return null
    return { waitMs: Math.max(serverWait, this.budget.wait(queued, now)), queued }
  }

  /**
   * Take back every draw not sent yet (the queue, including ops waiting to
   * be sent again): their promises reject `CANCELLED`. Ops already sent are
   * settled as usual. Returns the pixels taken back.
   */
  cancelQueued (): number {
    const err = new PixelwireError('CANCELLED', 'the draw was cancelled before it was sent')
    let n = 0
    for (const op of this.queue) {
      if (!op.job.settled) n += op.count
      this.finish(op, err)
    }
    this.queue = []
    return n
  }

  /**
   * Show where this connection's pointer is (a CURSOR message; others get it
   * in their `cursors` events). False when not live: nothing is sent.
   */
  moveCursor (x: number, y: number): boolean {
    return this.sendRaw(encodeCursor(x, y)) // a refusal (OUT_OF_BOUNDS) is an `error` event, as sendPixel's
  }

  /**
   * Give up the current connection and open a new one at once, resuming
   * (since + epoch) like any reconnect: e.g. when the network is back.
   * Nothing is lost: unconfirmed draws are settled at the resume.
   */
  reconnect (): void {
    if (this.state === 'idle' || this.state === 'closed') return
    clearTimeout(this.reconnectTimer)
    this.attempt = 0
    if (this.ws !== null) this.drop(1000, 'reconnect', 0)
    else this.onClose(1000, 'reconnect', 0)
  }

  /** Connect; resolves once live (the picture is current), rejects on a close that reconnecting cannot fix, or close(). */
  connect (): Promise<void> {
    if (this.firstLive !== null) return this.firstLive.promise
    let settle!: { resolve: () => void, reject: (e: Error) => void }
    const promise = new Promise<void>((resolve, reject) => { settle = { resolve, reject } })
    promise.catch(() => {}) // the caller may not await it; errors also go to events
    this.firstLive = { promise, ...settle }
    if (this.state === 'closed') settle.reject(new PixelwireError('CLOSED', 'the client was closed'))
    else this.open().catch((err: Error) => this.fail(err))
    return promise
  }

  /** Close for good: pending draws and requests are refused with CLOSED. */
  close (): void {
    this.shutdown(1000, 'closed by the client', new PixelwireError('CLOSED', 'the client was closed'))
  }

  // ---- drawing ----

  /** One pixel; colour 0xRRGGBB. */
  draw (x: number, y: number, color: number): Promise<DrawResult> {
    return this.drawPixels([{ x, y, color }])
  }

  /** Pixels in order (sent as PIXELS ops no larger than the server takes); one promise for all. */
  drawPixels (pixels: ReadonlyArray<{ x: number, y: number, color: number }>): Promise<DrawResult> {
    let records: Uint8Array
    try {
      if (pixels.length === 0) throw new RangeError('no pixels to draw')
      records = new Uint8Array(pixels.length * PIXEL_RECORD_BYTES)
      pixels.forEach((p, i) => writePixelRecord(records, i * PIXEL_RECORD_BYTES, p.x, p.y, p.color))
    } catch (err) {
      return Promise.reject(err)
    }
    return this.enqueue({ records }, pixels.length)
  }

  /** A filled rectangle (split into RECT ops the budget and MAX_RECT_PIXELS allow). */
  drawRect (x: number, y: number, w: number, h: number, color: number): Promise<DrawResult> {
    try {
      encodeRect(x, y, w, h, color) // argument checks: throws RangeError
      if (w === 0 || h === 0) throw new RangeError('an empty rectangle')
    } catch (err) {
      return Promise.reject(err)
    }
    return this.enqueue({ rect: { x, y, w, h, color } }, w * h)
  }

  /**
   * Fire and forget: one PIXEL now, outside the local budget, the queue and
   * the commit barrier (for load generators; a program that wants to know
   * its pixel landed uses draw). False when not live: nothing was sent. A
   * refusal arrives as an `error` event. Throws RangeError for what the wire
   * cannot carry.
   */
  sendPixel (x: number, y: number, color: number): boolean {
    return this.sendRaw(encodePixel(x, y, color))
  }

  /** Fire and forget, as sendPixel: one PIXELS op of packed records (writePixelRecord), 1 to 65,535 of them. */
  sendPixels (records: Uint8Array): boolean {
    return this.sendRaw(encodePixels(records))
  }

  private sendRaw (bytes: Uint8Array): boolean {
    if (!this.live || this.ws === null) return false
    this.ws.send(bytes)
    this.unfenced = true
    return true
  }

  private enqueue (what: Pick<Op, 'records' | 'rect'>, count: number): Promise<DrawResult> {
    if (this.state === 'closed') return Promise.reject(new PixelwireError('CLOSED', 'the client was closed'))
    if (this.queuedPixels + count > this.opts.maxQueuedPixels) {
      return Promise.reject(new PixelwireError('QUEUE_FULL', `${this.queuedPixels} pixels are waiting already; the queue holds ${this.opts.maxQueuedPixels}`))
    }
    return new Promise<DrawResult>((resolve, reject) => {
      const job: Job = { left: 1, settled: false, resolve, reject }
      this.queue.push({ job, ...what, count, attempts: 0, unseen: null, state: 'queued' })
      this.queuedPixels += count
      this.schedulePump(0)
    })
  }

  /** The largest op the server and the budget accept, in pixels (admins are not budgeted). */
  private maxOpPixels (rect: boolean): number {
    const l = this.limits as Limits
    const byBudget = this.role === 'admin' ? Infinity : Math.max(1, Math.floor(l.pixelBurst))
    const bySize = rect ? l.maxRectPixels : Math.min(l.maxStrokePixels, Math.floor((l.maxMessageBytes - 3) / PIXEL_RECORD_BYTES), 65535)
    return Math.max(1, Math.min(byBudget, bySize))
  }

  /** Split the head op in place until it fits in one message and one burst. */
  private splitHead (): Op {
    const op = this.queue[0]
    const max = this.maxOpPixels(op.rect !== undefined)
    if (op.count <= max) return op
    const pieces: Array<Pick<Op, 'records' | 'rect' | 'count'>> = []
    if (op.records !== undefined) {
      const cut = max * PIXEL_RECORD_BYTES
      pieces.push({ records: op.records.subarray(0, cut), count: max }, { records: op.records.subarray(cut), count: op.count - max })
    } else {
      const { x, y, w, h, color } = op.rect!
      const rows = Math.floor(max / w)
      if (rows >= 1) {
        pieces.push({ rect: { x, y, w, h: rows, color }, count: w * rows }, { rect: { x, y: y + rows, w, h: h - rows, color }, count: w * (h - rows) })
      } else {
        pieces.push({ rect: { x, y, w: max, h: 1, color }, count: max }, { rect: { x: x + max, y, w: w - max, h: 1, color }, count: w - max })
        if (h > 1) pieces.push({ rect: { x, y: y + 1, w, h: h - 1, color }, count: w * (h - 1) })
      }
    }
    op.job.left += pieces.length - 1
    this.queue.splice(0, 1, ...pieces.map((p) => ({ job: op.job, ...p, attempts: op.attempts, unseen: null, state: 'queued' as const })))
    return this.splitHead()
  }

  private schedulePump (ms: number): void {
    if (this.pumpTimer !== undefined) return
    this.pumpTimer = setTimeout(() => { this.pumpTimer = undefined; this.pump() }, Math.max(0, ms))
  }

  /** Send what the budget allows now, then a `sync` for the round; reschedules itself for the rest. */
  private pump (): void {
    if (!this.live || this.ws === null || this.limits === null) return
    const now = Date.now()
    let sent = 0
    while (this.queue.length > 0) {
      if (this.queue[0].job.settled) { this.dropHead(); continue }
      if (this.pendingSyncs >= this.opts.maxPendingSyncs) break // resumed by the next `synced`
      if (this.ws.bufferedAmount > SEND_BUFFER_PAUSE_BYTES) { this.schedulePump(50); break }
      if (now < this.blockedUntil) { this.schedulePump(this.blockedUntil - now); break }
      const op = this.splitHead()
      op.tookFullAt = undefined
      if (this.role !== 'admin' && this.budget !== null) {
        const wait = this.budget.wait(op.count, now)
        if (wait > 0) { this.schedulePump(wait); break }
        if (this.budget.take(op.count, now)) op.tookFullAt = now
      }
      this.queue.shift()
      this.sendOp(op)
      sent++
    }
    if (sent > 0) this.sendSync()
  }

  private dropHead (): void {
    const op = this.queue.shift()!
    this.unwatch(op)
    this.queuedPixels -= op.count
  }

  private sendOp (op: Op): void {
    const bytes = op.records !== undefined ? encodePixels(op.records) : encodeRect(op.rect!.x, op.rect!.y, op.rect!.w, op.rect!.h, op.rect!.color)
    op.state = 'sent'
    op.attempts++
    if (op.unseen === null) this.watchOp(op) // a re-send keeps what was already seen
    this.inFlight.push(op)
    this.unsynced.push(op)
    this.request(bytes, { kind: 'op', id: '', op, errored: false })
  }

  /** Every pixel of the op, watched until an UPDATES record shows it in its colour. */
  private watchOp (op: Op): void {
    const unseen = new Map<number, number>()
    if (op.records !== undefined) {
      for (let o = 0; o < op.records.length; o += PIXEL_RECORD_BYTES) {
        unseen.set(key(readU16(op.records, o), readU16(op.records, o + 2)), readRgb(op.records, o + 4))
      }
    } else {
      const { x, y, w, h, color } = op.rect!
      for (let j = y; j < y + h; j++) for (let i = x; i < x + w; i++) unseen.set(key(i, j), color)
    }
    op.unseen = unseen
    for (const k of unseen.keys()) {
      let set = this.watch.get(k)
      if (set === undefined) this.watch.set(k, (set = new Set()))
      set.add(op)
    }
  }

  /**
   * A SNAPSHOT (a resume, or a catch-up of a lagging connection) shows
   * changes without their UPDATES: an op's pixels it shows in their colours
   * count as seen.
   */
  private seenInPicture (op: Op): void {
    if (op.unseen === null) return
    for (const [k, color] of [...op.unseen]) {
      const x = k % 65536
      const y = Math.floor(k / 65536)
      if (x >= this.canvas.width || y >= this.canvas.height || this.canvas.pixel(x, y) !== color) continue
      op.unseen.delete(k)
      const set = this.watch.get(k)
      set?.delete(op)
      if (set?.size === 0) this.watch.delete(k)
    }
  }

  private unwatch (op: Op): void {
    if (op.unseen === null) return
    for (const k of op.unseen.keys()) {
      const set = this.watch.get(k)
      if (set === undefined) continue
      set.delete(op)
      if (set.size === 0) this.watch.delete(k)
    }
    op.unseen = null
  }

  private sendSync (): void {
    const ops = this.unsynced
    this.unsynced = []
    this.pendingSyncs++
    const id = this.id()
    this.request(JSON.stringify({ type: 'sync', id }), { kind: 'sync', id: '', ops, errored: false })
    this.syncs.push({ id, ops })
  }

  private syncs: Array<{ id: string, ops: Op[] }> = []

  private id (): string {
    return ID_PREFIX + String(this.nextId++)
  }

  /** Send a message that may be refused, followed by a ping: an `error` before its pong is about it. */
  private request (message: string | Uint8Array, p: Pending): void {
    if (this.unfenced) {
      // Errors about fire-and-forget ops sent since the last ping come
      // before this message's: a ping of their own goes first, and errors
      // before its pong are theirs (`error` events).
      this.unfenced = false
      this.ping({ kind: 'fence', id: '', errored: false })
    }
    this.ws!.send(message)
    this.ping(p)
  }

  private ping (p: Pending): void {
    p.id = this.id()
    this.pending.push(p)
    this.ws!.send(JSON.stringify({ type: 'ping', id: p.id }))
  }

  /** The op is settled for good: confirmed (with a seq) or refused. */
  private finish (op: Op, result: { seq: number } | PixelwireError): void {
    if (op.state === 'done') return
    op.state = 'done'
    this.unwatch(op)
    this.queuedPixels -= op.count
    const i = this.inFlight.indexOf(op)
    if (i >= 0) this.inFlight.splice(i, 1)
    const job = op.job
    if (job.settled) return
    if (result instanceof PixelwireError) {
      job.settled = true
      job.reject(result)
    } else if (--job.left === 0) {
      job.settled = true
      job.resolve(result)
    }
  }

  /** Back to the head of the queue (UNAVAILABLE, RATE_LIMITED, a lost commit, a dropped connection). */
  private requeue (ops: Op[], why: PixelwireError): void {
    const back: Op[] = []
    for (const op of ops) {
      if (op.state === 'done') continue
      const i = this.inFlight.indexOf(op)
      if (i >= 0) this.inFlight.splice(i, 1)
      if (op.attempts >= this.opts.maxAttempts) { this.finish(op, why); continue }
      op.state = 'queued'
      back.push(op)
    }
    this.queue.unshift(...back)
    this.schedulePump(0)
  }

  // ---- streams ----

  /** Join a stream; its messages come as `message` events, with `since` recovery across reconnects. */
  subscribe (stream: string, options: { since?: number } = {}): Promise<{ offset: number, recovered?: boolean }> {
    if (this.state === 'closed') return Promise.reject(new PixelwireError('CLOSED', 'the client was closed'))
    let s = this.streams.get(stream)
    if (s === undefined) {
      if (this.streams.size >= this.opts.maxStreams) return Promise.reject(new PixelwireError('TOO_MANY_STREAMS', `at most ${this.opts.maxStreams} streams (maxStreams)`))
      s = { offset: options.since ?? null, waiters: [] }
      this.streams.set(stream, s)
    }
    const st = s
    return new Promise((resolve, reject) => {
      st.waiters.push({ resolve, reject })
      if (this.live) this.sendSubscribe(stream, st)
    })
  }

  /** Leave a stream (forgotten at once: no recovery for it later). */
  unsubscribe (stream: string): void {
    const s = this.streams.get(stream)
    if (s === undefined) return
    this.streams.delete(stream)
    for (const w of s.waiters) w.reject(new PixelwireError('UNSUBSCRIBED', `unsubscribed from ${stream}`))
    if (this.live) {
      this.request(JSON.stringify({ type: 'unsubscribe', stream }), { kind: 'unsubscribe', id: '', stream, errored: false })
    }
  }

  /** Publish to a stream; resolves with the message's offset. Only while live (a publish is not replayed). */
  publish (stream: string, data: unknown): Promise<number> {
    if (!this.live || this.ws === null) return Promise.reject(new PixelwireError('NOT_LIVE', 'not connected; publish again once live'))
    return new Promise((resolve, reject) => {
      const p = { kind: 'publish' as const, id: '', errored: false, resolve, reject }
      this.request(JSON.stringify({ type: 'publish', stream, data }), p)
      this.publishes.push(p)
    })
  }

  private sendSubscribe (stream: string, s: StreamState): void {
    this.request(JSON.stringify(s.offset === null ? { type: 'subscribe', stream } : { type: 'subscribe', stream, since: s.offset }), { kind: 'subscribe', id: '', stream, errored: false })
  }

  // ---- connection ----

  private async open (): Promise<void> {
    const gen = ++this.gen
    if (this.state === 'idle') this.setState('connecting', {})
    const token = this.getToken === undefined ? null : await this.getToken({ renew: false })
    if (gen !== this.gen || this.state === 'closed') return
    const url = new URL(this.opts.url)
    url.searchParams.set('canvas', this.opts.canvas)
    if (this.canvas.epoch !== null && this.canvas.seq >= 0) {
      url.searchParams.set('since', String(this.canvas.seq))
      url.searchParams.set('epoch', this.canvas.epoch)
    }
    const protocols = ['pixelwire.v1']
    const rest: unknown[] = []
    if (token !== null) {
      if (this.opts.auth === 'subprotocol') protocols.push('bearer.' + token)
      else if (this.opts.auth === 'query') url.searchParams.set('token', token)
      else rest.push({ headers: { authorization: `Bearer ${token}` } })
    }
    this.scheduleRenewal(token)
    const ws = new this.Socket(url.toString(), protocols, ...rest) as SocketLike
    ws.binaryType = this.opts.binaryType
    this.ws = ws
    this.hello = null
    this.lastHeard = Date.now()
    this.heard = false
    if (typeof ws.on === 'function' && typeof ws.removeListener === 'function') {
      // Node's `ws`: its own event, (data, isBinary), with no event object
      // per message. Text arrives as bytes (a Buffer whatever binaryType
      // says); binary as binaryType says.
      const listener = (data: unknown, isBinary: boolean): void => { this.onMessage(gen, isBinary ? data : String(data)) }
      this.wsListener = listener
      ws.on('message', listener)
    } else {
      ws.onmessage = (ev) => { this.onMessage(gen, ev.data) }
    }
    ws.onclose = (ev) => { if (gen === this.gen) this.onClose(ev.code, ev.reason) }
    ws.onerror = () => {} // a close follows; its code says what happened
  }

  /**
   * A message of socket `gen` (either kind of socket): text, or an
   * ArrayBuffer (arraybuffer), or a Uint8Array already (a Node socket's
   * nodebuffer).
   */
  private onMessage (gen: number, data: unknown): void {
    if (gen !== this.gen) return
    this.heard = true
    if (typeof data === 'string') { this.receive(gen, data); return }
    const bytes = data instanceof Uint8Array ? data : new Uint8Array(data as ArrayBuffer)
    // Low-level mode's hot path: an UPDATES with nothing waiting before it is read in place, now.
    if (this.onUpdatesFrame !== undefined && bytes[0] === OP_UPDATES && this.frames.length === 0 && !this.applying) {
      this.onUpdatesRaw(bytes)
      return
    }
    this.receive(gen, bytes)
  }

  /** A message of the current socket, in arrival order behind any still waiting. */
  private receive (gen: number, data: string | Uint8Array): void {
    this.frames.push(data)
    if (this.frames.length > this.opts.maxPendingFrames) {
      this.emit('error', new PixelwireError('CLIENT_LAGGING', `more than ${this.opts.maxPendingFrames} frames waiting: reconnecting`))
      this.drop(CLOSE_CLIENT_LAGGING, 'client lagging')
      return
    }
    this.applyFrames(gen)
  }

  /** Nothing more from this socket reaches the client (its close included). */
  private unlisten (ws: SocketLike): void {
    ws.onmessage = null
    ws.onclose = null
    if (this.wsListener !== null) {
      ws.removeListener?.('message', this.wsListener)
      this.wsListener = null
    }
  }

  private applyFrames (gen: number): void {
    if (this.applying) return
    this.applying = true
    try {
      while (this.frames.length > 0 && gen === this.gen) {
        const data = this.frames.shift()!
        if (typeof data === 'string') {
          this.onText(data)
          continue
        }
        if (this.onUpdatesFrame !== undefined && data[0] === OP_UPDATES) {
          this.onUpdatesRaw(data)
          continue
        }
        const res = decodeServerBinary(data)
        if (!res.ok) { this.emit('error', new PixelwireError('BAD_FRAME', res.error.message)); continue }
        const frame = res.value
        if (frame.kind === 'snapshot' && this.onUpdatesFrame !== undefined) {
          // Low-level mode: no picture, only where it stands.
          this.canvas.applySnapshotHeader(frame.seq, frame.width, frame.height)
          this.resumedBySnapshot = true
          this.emit('snapshot', this.canvas)
          this.maybeLive()
          continue
        }
        if (frame.kind === 'snapshot') {
          // Inflating is asynchronous: the frames behind it wait.
          snapshotRows(frame).then((rows) => {
            if (gen !== this.gen) return
            this.canvas.applySnapshot(frame.seq, frame.width, frame.height, rows)
            this.resumedBySnapshot = true
            for (const op of this.inFlight) this.seenInPicture(op)
            this.emit('snapshot', this.canvas)
            this.maybeLive()
          }).catch((err: Error) => {
            if (gen === this.gen) {
              this.emit('error', new PixelwireError('BAD_FRAME', `could not read a SNAPSHOT: ${err.message}`))
              this.drop(CLOSE_CLIENT_LAGGING, 'bad snapshot')
            }
          }).finally(() => {
            if (gen !== this.gen) return
            this.applying = false
            this.applyFrames(gen)
          })
          return // still applying
        }
        if (frame.kind === 'updates') this.onUpdates(frame.seq, frame.count, frame.records)
        else this.emit('cursors', frame.cursors)
      }
    } catch (err) {
      this.emit('error', new PixelwireError('CLIENT', `could not apply a server message: ${(err as Error).message}`))
    }
    this.applying = false
  }

  private onUpdates (seq: number, count: number, records: Uint8Array): void {
    this.canvas.applyUpdates(seq, records)
    if (this.watch.size > 0) this.see(records, 0)
    this.emit('updates', { seq, count, records })
    this.maybeLive()
  }

  /** Low-level mode: an UPDATES frame's header read in place (wire module), the frame handed on as it is. */
  private onUpdatesRaw (frame: Uint8Array): void {
    const count = updatesCount(frame)
    if (count < 0) {
      const res = decodeUpdates(frame) // what is wrong with it
      this.emit('error', new PixelwireError('BAD_FRAME', res.ok ? 'a bad UPDATES frame' : res.error.message))
      return
    }
    const seq = updatesSeq(frame)
    this.canvas.seq = seq
    if (this.watch.size > 0) this.see(frame, UPDATES_HEAD)
    try {
      this.onUpdatesFrame!(frame, seq, count)
    } catch (err) {
      setTimeout(() => { throw err }, 0) // as a listener's (Emitter): the host reports it, the client goes on
    }
    if (!this.live) this.maybeLive()
  }

  /** Records from `from` on: watched pixels seen in their colours. */
  private see (buf: Uint8Array, from: number): void {
    for (let o = from; o + PIXEL_RECORD_BYTES <= buf.length; o += PIXEL_RECORD_BYTES) {
      const k = key(readU16(buf, o), readU16(buf, o + 2))
      const ops = this.watch.get(k)
      if (ops === undefined) continue
      const color = readRgb(buf, o + 4)
      for (const op of ops) {
        if (op.unseen!.get(k) !== color) continue
        op.unseen!.delete(k)
        ops.delete(op)
      }
      if (ops.size === 0) this.watch.delete(k)
    }
  }

  private onText (text: string): void {
    // Presence goes to every client once a second while people come and go,
    // and lists up to PRESENCE_MAX_LIST of them: with no listener it is not
    // parsed. The test is on the server's own spelling (`type` first); any
    // other spelling is parsed as usual.
    if (text.startsWith(PRESENCE_PREFIX) && !this.listened('presence')) return
    let msg: { type?: unknown, [k: string]: unknown }
    try {
      msg = JSON.parse(text)
    } catch {
      this.emit('error', new PixelwireError('BAD_FRAME', 'a text message that is not JSON'))
      return
    }
    switch (msg.type) {
      case 'hello': return this.onHello(msg as unknown as HelloMessage)
      case 'pong': return this.onPong(msg.id)
      case 'error': return this.onError(msg as unknown as ErrorMessage)
      case 'synced': return this.onSynced(msg.id, msg.seq as number)
      case 'subscribed': return this.onSubscribed(msg as unknown as { stream: string, offset: number, recovered?: boolean })
      case 'message': return this.onStreamMessage(msg as unknown as StreamMessage)
      case 'published': {
        const p = this.publishes.shift()
        p?.resolve(msg.offset as number)
        return
      }
      case 'authenticated': {
        this.scheduleRenewalAt(msg.exp as number)
        return
      }
      case 'presence': return this.emit('presence', msg as unknown as PresenceMessage)
      case 'broadcast': return this.emit('broadcast', msg as unknown as BroadcastMessage)
      case 'canvas': return this.onCanvasMessage(msg as unknown as CanvasMessage)
      // unsubscribed, and types a later server adds: nothing to do
    }
  }

  private onHello (hello: HelloMessage): void {
    const reset = this.canvas.epoch !== null && hello.canvas.epoch !== this.canvas.epoch
    this.hello = hello
    this.limits = hello.limits
    this.role = hello.user.role
    this.resumedBySnapshot = false
    if (reset) this.discardForReset()
    this.canvas.epoch = hello.canvas.epoch
    this.budget = localBudget(hello.limits)
    this.emit('hello', hello)
    this.maybeLive()
  }

  /** A new epoch: what was drawn on the old picture is refused, not painted on the new one. */
  private discardForReset (): void {
    const err = new PixelwireError('CANVAS_RESET', 'the canvas was reset: the draw was not applied to the new canvas')
    for (const op of [...this.queue, ...this.inFlight]) this.finish(op, err)
    this.queue = []
    this.inFlight = []
    this.unsynced = []
  }

  private onCanvasMessage (m: CanvasMessage): void {
    if (typeof m.epoch === 'string' && m.epoch !== this.canvas.epoch) {
      // A live reset: queued draws belong to the old picture; in-flight ones are settled by their synced.
      const err = new PixelwireError('CANVAS_RESET', 'the canvas was reset before the draw was sent')
      for (const op of this.queue) this.finish(op, err)
      this.queue = []
      this.canvas.epoch = m.epoch
    }
    this.emit('canvas', m)
  }

  /** Live once the picture is current: after the SNAPSHOT, or when the replay reached the hello's seq. */
  private maybeLive (): void {
    if (this.live || this.hello === null) return
    if (this.hello.resume === 'snapshot' ? !this.resumedBySnapshot : this.canvas.seq < this.hello.canvas.seq) return
    this.live = true
    this.attempt = 0
    this.settleAfterResume()
    this.setState('live', {})
    const every = Math.min(this.hello.heartbeatMs, HEARTBEAT_MAX_MS)
    clearInterval(this.heartbeat)
    // A server that says 0 (or nothing usable) runs no heartbeat: nor do we.
    if (every > 0 && this.opts.heartbeat) this.heartbeat = setInterval(() => this.checkHeartbeat(every), every)
    for (const [stream, s] of this.streams) this.sendSubscribe(stream, s)
    this.firstLive?.resolve()
    this.schedulePump(0)
  }

  /**
   * Ops that were sent on a connection that dropped before their `synced`:
   * confirmed when their pixels came back (the replay, or the snapshot shows
   * them in their colours), else sent again.
   */
  private settleAfterResume (): void {
    const limbo = this.inFlight
    this.inFlight = []
    const again: Op[] = []
    for (const op of limbo) {
      // Every pixel came back (an UPDATES, or a SNAPSHOT showing it): committed, whether or not its pong had arrived.
      if (op.unseen !== null && op.unseen.size === 0) this.finish(op, { seq: this.canvas.seq })
      else again.push(op)
    }
    this.requeue(again, new PixelwireError('UNAVAILABLE', 'the draw could not be confirmed after several connections'))
  }

  private onPong (id: unknown): void {
    if (typeof id !== 'string' || !id.startsWith(ID_PREFIX)) return
    while (this.pending.length > 0) {
      const p = this.pending.shift()!
      if (p.kind === 'op' && !p.errored && p.op.state === 'sent') {
        p.op.state = 'accepted'
        if (p.op.tookFullAt !== undefined) this.budget?.settle(p.op.tookFullAt)
      }
      if (p.id === id) break
    }
  }

  private onError (e: ErrorMessage): void {
    const err = new PixelwireError(e.code, e.message, e.retryAfterMs)
    const head = this.pending[0]
    if (head === undefined || head.errored || head.kind === 'fence') {
      // Not about a request of ours (a failed commit's UNAVAILABLE: the synced that follows settles its ops), or about a fire-and-forget op.
      this.emit('error', err)
      return
    }
    head.errored = true
    switch (head.kind) {
      case 'op': {
        const op = head.op
        if (e.code === 'RATE_LIMITED' || e.code === 'UNAVAILABLE') {
          // Not applied: wait and send again. The local budget starts over empty.
          const wait = e.retryAfterMs ?? this.opts.backoff.baseMs
          this.blockedUntil = Math.max(this.blockedUntil, Date.now() + wait)
          // Waiting out the rate is not a failed send: only UNAVAILABLE and lost commits count towards maxAttempts.
          if (e.code === 'RATE_LIMITED') {
            this.budget?.empty(wait)
            op.attempts--
          }
          this.emit('retry', err, op.count)
          this.requeue([op], err)
        } else {
          this.finish(op, err)
        }
        return
      }
      case 'sync': {
        // Refused (too many pending): its ops join the next round's sync.
        this.pendingSyncs--
        const i = this.syncs.findIndex((s) => s.ops === head.ops)
        if (i >= 0) this.syncs.splice(i, 1)
        this.unsynced.unshift(...head.ops)
        this.blockedUntil = Math.max(this.blockedUntil, Date.now() + (e.retryAfterMs ?? 50))
        this.timer(() => { if (this.live && this.unsynced.length > 0 && this.pendingSyncs < this.opts.maxPendingSyncs) this.sendSync() }, e.retryAfterMs ?? 50)
        return
      }
      case 'subscribe': {
        const s = this.streams.get(head.stream!)
        this.streams.delete(head.stream!)
        for (const w of s?.waiters ?? []) w.reject(err)
        return
      }
      case 'publish': {
        const i = this.publishes.indexOf(head)
        if (i >= 0) this.publishes.splice(i, 1)
        head.reject(err)
        return
      }
      case 'auth':
        this.emit('error', new PixelwireError(e.code, `token renewal refused: ${e.message}`))
        return
      default:
        this.emit('error', err)
    }
  }

  private onSynced (id: unknown, seq: number): void {
    const i = this.syncs.findIndex((s) => s.id === id)
    if (i < 0) return
    const [{ ops }] = this.syncs.splice(i, 1)
    this.pendingSyncs--
    const lost: Op[] = []
    for (const op of ops) {
      if (op.state !== 'accepted') continue // refused (settled) or requeued already
      if (op.unseen !== null && op.unseen.size === 0) this.finish(op, { seq })
      else lost.push(op)
    }
    // Accepted but not shown by the barrier: its commit failed (UNAVAILABLE). Send again.
    if (lost.length > 0) this.requeue(lost, new PixelwireError('UNAVAILABLE', 'the server could not commit the draw'))
    this.schedulePump(0)
  }

  private onSubscribed (m: { stream: string, offset: number, recovered?: boolean }): void {
    const s = this.streams.get(m.stream)
    if (s === undefined) return
    // Without `since`, or when the missed messages are gone, go on from the latest offset.
    if (s.offset === null || m.recovered === false) s.offset = m.offset
    for (const w of s.waiters.splice(0)) w.resolve({ offset: m.offset, recovered: m.recovered })
    this.emit('subscribed', { stream: m.stream, offset: m.offset, ...(m.recovered === undefined ? {} : { recovered: m.recovered }) })
  }

  private onStreamMessage (m: StreamMessage): void {
    const s = this.streams.get(m.stream)
    if (s === undefined) return
    if (s.offset !== null && m.offset <= s.offset) return // already delivered (a replay overlapping what we had)
    s.offset = m.offset
    this.emit('message', m)
  }

  // ---- token renewal ----

  private scheduleRenewal (token: string | null): void {
    const exp = token === null ? null : tokenExp(token)
    if (exp !== null) this.scheduleRenewalAt(exp)
  }

  private scheduleRenewalAt (exp: number): void {
    clearTimeout(this.renewTimer)
    if (!this.opts.renew || this.getToken === undefined) return
    const left = exp * 1000 - Date.now()
    const delay = Math.max(left - this.opts.renewBeforeMs, left / 2, 0)
    this.renewTimer = setTimeout(() => { this.renew().catch((err: Error) => this.emit('error', new PixelwireError('TOKEN', `could not renew the token: ${err.message}`))) }, delay)
  }

  private async renew (): Promise<void> {
    const gen = this.gen
    const token = await this.getToken!({ renew: true })
    if (gen !== this.gen || !this.live || this.ws === null) return // the next connection takes a fresh token anyway
    this.request(JSON.stringify({ type: 'auth', token }), { kind: 'auth', id: '', errored: false })
  }

  // ---- closing and reconnecting ----

  private checkHeartbeat (every: number): void {
    const now = Date.now()
    if (this.heard) {
      this.heard = false
      this.lastHeard = now
    }
    if (now - this.lastHeard > 2 * every + 5000) {
      this.drop(4012, 'heartbeat timeout')
      return
    }
    this.ws?.send(JSON.stringify({ type: 'ping', id: 'heartbeat' }))
  }

  /** Give up this socket (as if it closed with `code`) and reconnect. */
  private drop (code: number, reason: string, delayMs?: number): void {
    const ws = this.ws
    this.gen++
    if (ws !== null) {
      this.unlisten(ws)
      try { ws.close(code >= 4000 ? code : 1000, reason) } catch {}
    }
    this.onClose(code, reason, delayMs)
  }

  /** `delayMs`: reconnect after this long instead of what the close code asks (reconnect()). */
  private onClose (code: number, reason: string, delayMs?: number): void {
    this.gen++ // frames of the old socket still waiting are dropped
    if (this.ws !== null) this.unlisten(this.ws)
    this.ws = null
    this.live = false
    this.frames = []
    this.applying = false
    clearInterval(this.heartbeat)
    clearTimeout(this.pumpTimer)
    this.pumpTimer = undefined
    clearTimeout(this.renewTimer)
    // Ops sent but not confirmed wait for the resume (settleAfterResume); requests are void.
    this.unsynced = []
    this.syncs = []
    this.pendingSyncs = 0
    this.pending = []
    for (const p of this.publishes.splice(0)) p.reject(new PixelwireError('UNCONFIRMED', 'the connection closed before the publish was confirmed'))
    this.emit('close', code, reason)
    if (this.state === 'closed') return
    if (FATAL_CLOSES.has(code)) {
      this.shutdown(code, reason, new PixelwireError('CLOSED', `the server closed the connection with ${code} (${reason || 'no reason'}): not reconnecting`))
      return
    }
    let delay: number
    if (delayMs !== undefined) delay = delayMs
    else if (code === 4401) delay = this.attempt === 0 ? 0 : this.backoff() // a new token, at once (once)
    else if (code === 4429) delay = Math.max(RATE_ABUSE_PAUSE_MS, this.backoff())
    else if (code === 1001) delay = Math.round(250 + this.opts.random() * 1000)
    else delay = this.backoff()
    this.attempt++
    this.setState('reconnecting', { code, reason, delayMs: delay })
    clearTimeout(this.reconnectTimer)
    this.reconnectTimer = setTimeout(() => { this.open().catch((err: Error) => this.fail(err)) }, delay)
  }

  private backoff (): number {
    const { baseMs, maxMs } = this.opts.backoff
    const full = Math.min(maxMs, baseMs * 2 ** Math.min(this.attempt, 30))
    return Math.round(full / 2 + this.opts.random() * full / 2)
  }

  /** getToken() failed: treat as a failed attempt (backoff), tell the host. */
  private fail (err: Error): void {
    this.emit('error', new PixelwireError('CLIENT', `could not connect: ${err.message}`))
    if (this.state === 'closed') return
    this.onClose(1006, 'no token')
  }

  private shutdown (code: number, reason: string, err: PixelwireError): void {
    if (this.state === 'closed') return
    const ws = this.ws
    this.gen++
    this.ws = null
    this.live = false
    if (ws !== null) {
      this.unlisten(ws)
      try { ws.close(1000, 'bye') } catch {}
    }
    for (const t of [this.reconnectTimer, this.pumpTimer, this.renewTimer]) clearTimeout(t)
    for (const t of this.timers) clearTimeout(t)
    this.timers.clear()
    clearInterval(this.heartbeat)
    for (const op of [...this.queue, ...this.inFlight]) this.finish(op, err)
    this.queue = []
    this.inFlight = []
    for (const s of this.streams.values()) for (const w of s.waiters.splice(0)) w.reject(err)
    for (const p of this.publishes.splice(0)) p.reject(err)
    this.setState('closed', { code, reason })
    this.firstLive?.reject(err)
  }

  private timer (fn: () => void, ms: number): void {
    const t = setTimeout(() => { this.timers.delete(t); fn() }, ms)
    this.timers.add(t)
  }

  private setState (state: ClientState, detail: StateDetail): void {
    this.state = state
    this.emit('state', state, detail)
  }
}

/** A local copy of the server's bucket as the hello left it. */
function localBudget (l: Limits): LocalBudget {
  const level = l.pixelsAvailable >= 1 ? l.pixelsAvailable : Math.max(0, 1 - (l.nextPixelInMs * l.pixelRate) / 1000)
  return new LocalBudget(l.pixelRate, l.pixelBurst, level)
}

/** A JWT's `exp` (seconds), read without verifying (the server does that); null when there is none. */
export function tokenExp (token: string): number | null {
  try {
    const part = token.split('.')[1]
    const json = atob(part.replace(/-/g, '+').replace(/_/g, '/').padEnd(Math.ceil(part.length / 4) * 4, '='))
    const exp = (JSON.parse(json) as { exp?: unknown }).exp
    return typeof exp === 'number' && Number.isFinite(exp) ? exp : null
  } catch {
    return null
  }
}
