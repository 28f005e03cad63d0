// One WebSocket to /ws that comes back: reconnects with exponential backoff
// and jitter, resumes with since+epoch (the server falls back to a snapshot),
// and says honestly where it is: connecting, live, reconnecting, offline.
import {
  SnapshotEncoding, decodeServerBinary,
  type CursorEntry, type ErrorMessage, type HelloMessage, type PresenceMessage, type SnapshotFrame, type UpdatesFrame
} from '../protocol/wire.js'

export type NetState = 'connecting' | 'live' | 'reconnecting' | 'offline'

export interface NetEvents {
  state (state: NetState, detail: string): void
  /** before its SNAPSHOT or replay; `reset` when the canvas epoch changed under us */
  hello (hello: HelloMessage, reset: boolean): void
  snapshot (width: number, height: number, rgb: Uint8Array): void
  updates (u: UpdatesFrame): void
  cursors (cursors: CursorEntry[]): void
  presence (p: PresenceMessage): void
  error (e: ErrorMessage): void
  /** the answer to `{"type":"ping","id"}` */
  pong (id: unknown): void
  /** the answer to the commit barrier `{"type":"sync","id"}` */
  synced (id: unknown): void
  /** stream traffic, broadcasts and canvas state changes (`canvas`: after a reset, before its SNAPSHOT) */
  text (msg: { type: string }): void
  /** the socket closed (before any reconnect) */
  lost (): void
  /** the token expired (4401) or was refused: get another, then call connect() */
  tokenExpired (): void
  /** a handshake failed before its `hello` (refused, or the server is down); a retry is scheduled */
  handshakeFailed (): void
  /** the server is up but refuses clients without a token: retrying stopped, sign in to go live */
  anonymousRefused (): void
}

/** Backoff: 500 ms doubling to 10 s, each wait drawn from [half, all] of it. */
export const BACKOFF = { baseMs: 500, maxMs: 10_000 }
const RATE_ABUSE_PAUSE_MS = 15_000
/** Close codes after which retrying cannot help (contract §6: "fix the client", kicked). */
const FATAL: Record<number, string> = {
  1002: 'The server reported a protocol error.',
  1007: 'The server reported invalid text.',
  1009: 'A message was too large for the server.',
  4400: 'Too many rejected messages: the server closed the connection.',
  4403: 'You were disconnected by an administrator.',
  4404: 'This canvas was deleted.'
}

export function backoffDelay (attempt: number, random = Math.random): number {
  const full = Math.min(BACKOFF.maxMs, BACKOFF.baseMs * 2 ** attempt)
  return Math.round(full / 2 + random() * full / 2)
}

export class Net {
  token: string | null = null
  canvasId: string
  /** the resume point: the seq and epoch of the state shown */
  seq: number | null = null
  epoch: string | null = null
  hello: HelloMessage | null = null
  live = false

  private ws: WebSocket | null = null
  private generation = 0
  private attempt = 0
  private everLive = false
  private timer: ReturnType<typeof setTimeout> | undefined
  private heartbeat: ReturnType<typeof setInterval> | undefined
  private lastHeard = 0
  private waitingForNetwork = false
  private chain: Promise<void> = Promise.resolve()
  private readonly events: NetEvents

  constructor (canvasId: string, events: NetEvents) {
    this.canvasId = canvasId
    this.events = events
    addEventListener('online', () => { if (this.waitingForNetwork) this.connect() })
  }

  /** Open now (cancelling any scheduled retry). */
  connect (): void {
    this.abandon()
    this.waitingForNetwork = !navigator.onLine
    if (this.waitingForNetwork) return this.setState('offline', 'Your browser is offline; waiting for the network.')
    const gen = ++this.generation
    const url = new URL('/ws', location.href)
    url.protocol = location.protocol === 'https:' ? 'wss:' : 'ws:'
    url.searchParams.set('canvas', this.canvasId)
    if (this.seq !== null && this.epoch !== null) {
      url.searchParams.set('since', String(this.seq))
      url.searchParams.set('epoch', this.epoch)
    }
    // The token rides as a subprotocol entry, never in the URL (so never in a log).
    const protocols = ['pixelwire.v1']
    if (this.token !== null) protocols.push('bearer.' + this.token)
    const ws = new WebSocket(url, protocols)
    ws.binaryType = 'arraybuffer'
    this.ws = ws
    this.hello = null
    this.setState(this.everLive ? 'reconnecting' : 'connecting', this.everLive ? 'Reconnecting…' : 'Connecting…')
    ws.onmessage = (ev: MessageEvent) => {
      if (gen !== this.generation) return
      this.lastHeard = performance.now()
      const data = ev.data as string | ArrayBuffer
      this.chain = this.chain.then(() => this.onMessage(gen, data)).catch((err: Error) => {
        if (gen === this.generation) this.events.error({ type: 'error', code: 'CLIENT', message: `Could not read a server message: ${err.message}` })
      })
    }
    ws.onclose = (ev: CloseEvent) => { if (gen === this.generation) this.onClose(ev.code) }
  }

  /** Send when live; false when the message cannot go now. */
  send (data: Uint8Array | string): boolean {
    if (!this.live || this.ws === null || this.ws.readyState !== WebSocket.OPEN) return false
    this.ws.send(data as Uint8Array<ArrayBuffer> | string)
    return true
  }

  get bufferedAmount (): number {
    return this.ws?.bufferedAmount ?? 0
  }

  /** Stop for good (sign out, kicked). */
  stop (detail: string): void {
    this.abandon()
    this.waitingForNetwork = false
    this.everLive = false
    this.setState('offline', detail)
  }

  /** Forget the resume point (another canvas or another user). */
  reset (): void {
    this.seq = null
    this.epoch = null
  }

  private abandon (): void {
    clearTimeout(this.timer)
    clearInterval(this.heartbeat)
    this.timer = undefined
    this.generation++
    this.live = false
    if (this.ws !== null) {
      this.ws.onmessage = null
      this.ws.onclose = null
      if (this.ws.readyState <= WebSocket.OPEN) this.ws.close(1000, 'bye')
      this.ws = null
    }
  }

  private setState (state: NetState, detail: string): void {
    this.events.state(state, detail)
  }

  private async onMessage (gen: number, data: string | ArrayBuffer): Promise<void> {
    if (typeof data === 'string') return this.onText(JSON.parse(data) as { type: string })
    const res = decodeServerBinary(new Uint8Array(data))
    if (!res.ok) throw new Error(res.error.message)
    const frame = res.value
    if (frame.kind === 'updates') {
      this.events.updates(frame)
      this.seq = frame.seq
      if (!this.live && this.hello !== null && frame.seq >= this.hello.canvas.seq) this.goLive()
    } else if (frame.kind === 'snapshot') {
      const rgb = await snapshotPixels(frame)
      if (gen !== this.generation) return
      if (rgb.length !== frame.width * frame.height * 3) throw new Error('SNAPSHOT size does not match its dimensions')
      this.events.snapshot(frame.width, frame.height, rgb)
      this.seq = frame.seq
      this.goLive()
    } else {
      this.events.cursors(frame.cursors)
    }
  }

  private onText (msg: { type: string }): void {
    switch (msg.type) {
      case 'hello': {
        const hello = msg as HelloMessage
        const reset = this.epoch !== null && hello.canvas.epoch !== this.epoch
        this.hello = hello
        this.epoch = hello.canvas.epoch
        this.events.hello(hello, reset)
        if (hello.resume === 'replay' && this.seq !== null && this.seq >= hello.canvas.seq) this.goLive()
        return
      }
      case 'presence': return this.events.presence(msg as PresenceMessage)
      case 'error': return this.events.error(msg as ErrorMessage)
      case 'pong': return this.events.pong((msg as { id?: unknown }).id)
      case 'synced': return this.events.synced((msg as { id?: unknown }).id)
      case 'canvas': {
        // A reset: the resume point is the new epoch (its SNAPSHOT follows and sets the seq).
        const epoch = (msg as { epoch?: unknown }).epoch
        if (typeof epoch === 'string' && epoch !== this.epoch) {
          this.epoch = epoch
          this.seq = null
        }
        return this.events.text(msg)
      }
      default: return this.events.text(msg)
    }
  }

  private goLive (): void {
    if (this.live) return
    this.live = true
    this.everLive = true
    this.attempt = 0
    this.setState('live', 'Live')
    const every = Math.min(this.hello?.heartbeatMs ?? 25_000, 15_000)
    clearInterval(this.heartbeat)
    this.lastHeard = performance.now()
    this.heartbeat = setInterval(() => this.checkHeartbeat(every), every)
  }

  /** An app-level ping keeps a half-open connection from looking live forever. */
  private checkHeartbeat (every: number): void {
    if (performance.now() - this.lastHeard > 2 * every + 5000) {
      this.abandon()
      this.onClose(4012)
      return
    }
    this.ws?.send('{"type":"ping"}')
  }

  private onClose (code: number): void {
    const wasLive = this.live
    const reachedHello = this.hello !== null
    clearInterval(this.heartbeat)
    this.live = false
    this.ws = null
    this.events.lost()
    const fatal = FATAL[code]
    if (fatal !== undefined) return this.stop(fatal)
    if (code === 4401) return this.events.tokenExpired()
    if (code === 4429) return this.retry(RATE_ABUSE_PAUSE_MS, 'Too many rate-limited actions; reconnecting after a pause…')
    if (code === 1001 && wasLive) return this.retry(Math.round(250 + Math.random() * 1000), 'The server is restarting; reconnecting…')
    if (!reachedHello) {
      this.diagnose(this.generation).catch(() => {})
      this.events.handshakeFailed()
    }
    this.retry(backoffDelay(this.attempt++), this.everLive ? 'Connection lost; reconnecting…' : 'Cannot connect yet; retrying…')
  }

  private retry (ms: number, detail: string): void {
    clearTimeout(this.timer)
    this.waitingForNetwork = !navigator.onLine
    if (this.waitingForNetwork) return this.setState('offline', 'Your browser is offline; waiting for the network.')
    this.setState(this.everLive ? 'reconnecting' : 'connecting', `${detail} (in ${(ms / 1000).toFixed(1)} s)`)
    this.timer = setTimeout(() => this.connect(), ms)
  }

  /**
   * A handshake the server refused looks like any network failure to a
   * browser. If the server answers /health, the refusal was about us: an
   * anonymous visitor must sign in; a token may be invalid.
   */
  private async diagnose (gen: number): Promise<void> {
    let up = false
    try {
      up = (await fetch('/health', { cache: 'no-store' })).ok
    } catch {}
    if (gen !== this.generation || !up || this.everLive) return
    if (this.token === null) {
      this.abandon()
      return this.events.anonymousRefused()
    }
    if (this.attempt === 3) {
      this.events.error({ type: 'error', code: 'REFUSED', message: 'The server is up but refuses the connection: the token may be invalid or expired, or there are too many connections. Still retrying.' })
    }
  }
}

/** RGB rows of a SNAPSHOT payload, inflating a deflated one with the browser's DecompressionStream. */
async function snapshotPixels (snap: SnapshotFrame): Promise<Uint8Array> {
  if (snap.encoding === SnapshotEncoding.RAW) return snap.payload
  const stream = new Blob([snap.payload as Uint8Array<ArrayBuffer>]).stream().pipeThrough(new DecompressionStream('deflate'))
  return new Uint8Array(await new Response(stream).arrayBuffer())
}
