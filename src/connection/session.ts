// What a connection's inbound messages do. Bad input gets a JSON `error` and
// the connection lives on, until it spends its budget of bad messages (4400)
// or of rate-limited ones (4429). Nothing here throws on any input.
import type { CanvasService, Logger } from '../canvas/canvas-service.js'
import { claimedPixels, decodeClientBinary, pixelCount, type Bounds, type DrawOp } from '../protocol/codec.js'
import { encodeJson, parseClientText } from '../protocol/messages.js'
import { encodeError, protocolError, type ProtocolError } from '../protocol/errors.js'
import { toHexColor } from '../protocol/wire.js'
import { WindowCounter } from '../rate/token-bucket.js'
import type { PixelBudget } from '../rate/pixel-budget.js'
import type { Presence } from '../canvas/presence.js'
import type { Streams, SubscribeResult } from '../streams/streams.js'
import { canDraw, type Connection, type Principal } from './connection.js'
import { Disconnect } from './disconnect.js'
import { bump, inKind, noopMeter, type Meter } from '../metrics.js'

export interface SessionOptions {
  canvases: CanvasService<Connection>
  streams: Streams<Connection>
  presence: Presence<Connection>
  log: Logger
  /** per-user pixel budget, shared by all of a user's connections (guests: also per IP) */
  pixels: PixelBudget
  /** verifies a replacement token; throws when it is not valid */
  verifyToken: (token: string) => Principal
  maxStrokePixels: number
  maxRectPixels: number
  badMessageLimit: number
  rateAbuseLimit: number
  /** deepest JSON nesting a text message may have (default DEFAULT_MAX_JSON_DEPTH) */
  maxJsonDepth?: number
  /** the region lock a non-admin draw touches, if any (refused LOCKED); default: no locks */
  locked?: (canvas: string, op: DrawOp) => { id: number, reason: string | null } | undefined
  /** why a user may not use a token now (banned), or null; checked on in-band auth */
  refusedUser?: (user: string) => string | null
  /** told of every UNAVAILABLE answer (the lifecycle closes with 1013 when they last) */
  onUnavailable?: (conn: Connection) => void
  /** messages and bytes received, and refused pixels, are counted here (default: nowhere) */
  meter?: Meter
}

/**
 * Lines about handler failures, for all connections together, per window;
 * beyond, failures are only counted and the next line says how many.
 */
export const HANDLER_ERROR_LOG_LIMIT = 10
export const HANDLER_ERROR_LOG_WINDOW_MS = 10_000

export function createMessageHandler (opts: SessionOptions) {
  const { canvases, pixels, streams, presence } = opts
  const counts = (opts.meter ?? noopMeter).counts
  const errorLines = new WindowCounter(HANDLER_ERROR_LOG_WINDOW_MS)
  let unlogged = 0

  /**
   * Every refusal goes through here, so the budgets see all of them. Only
   * UNAVAILABLE (our storage, not the client's doing) is free: an INTERNAL
   * that a client can trigger at will spends its bad-message budget too.
   * FROZEN is a "not now" like RATE_LIMITED (the client did nothing wrong
   * but should stop), so it spends the rate-abuse budget (4429), not 4400.
   */
  function reject (conn: Connection, err: ProtocolError): void {
    conn.send(encodeError(err))
    // LOCKED is what a brush over a locked region gets op after op, FROZEN
    // what a frozen canvas answers: they spend the rate-abuse budget (4429
    // when it goes on), not the bad-message one (4400 is for broken clients).
    if (err.code === 'RATE_LIMITED' || err.code === 'LOCKED' || err.code === 'FROZEN') {
      if (conn.rateLimited.hit() > opts.rateAbuseLimit) conn.close(Disconnect.RATE_ABUSE)
    } else if (err.code === 'UNAVAILABLE') {
      opts.onUnavailable?.(conn)
    } else {
      if (conn.badMessages.hit() > opts.badMessageLimit) conn.close(Disconnect.BAD_MESSAGES)
    }
  }

  /** A bug must cost one message, not the process, nor a flood of error lines. */
  function failed (conn: Connection, err: unknown): void {
    counts.handlerErrors++
    if (errorLines.hit() <= HANDLER_ERROR_LOG_LIMIT) {
      opts.log.error({ err, conn: conn.id, ...(unlogged > 0 ? { unlogged } : {}) }, 'message handler failed')
      unlogged = 0
    } else {
      unlogged++
    }
    reject(conn, protocolError('INTERNAL', 'internal error'))
  }

  /** The pixel budget: admins are exempt; an op larger than the bucket can never pass. */
  function budget (conn: Connection, op: DrawOp): ProtocolError | null {
    if (conn.user.role === 'admin') return null
    const n = pixelCount(op)
    const take = pixels.take({ user: conn.user.id, ip: conn.ip }, n)
    if (take.ok) return null
    if ('burst' in take) return protocolError('TOO_LARGE', `${n} pixels exceed the pixel budget of ${take.burst}`)
    return protocolError('RATE_LIMITED', 'pixel budget exhausted', take.retryAfterMs)
  }

  /** A refused draw op: its pixels are counted under the error code. */
  function rejectDraw (conn: Connection, err: ProtocolError, pixels: number): void {
    if (pixels > 0) bump(counts.pixelsRejected, err.code, pixels)
    reject(conn, err)
  }

  function onBinary (conn: Connection, data: Buffer): void {
    const canvas = canvases.get(conn.canvasId)
    if (canvas === undefined) return rejectDraw(conn, protocolError('UNAVAILABLE', 'canvas no longer exists'), claimedPixels(data))
    const bounds: Bounds = { width: canvas.width, height: canvas.height, maxStrokePixels: opts.maxStrokePixels, maxRectPixels: opts.maxRectPixels }
    const res = decodeClientBinary(data, bounds)
    if (!res.ok) {
      // A malformed message paints nothing: it is no refused pixel.
      if (res.error.code === 'BAD_MESSAGE') return reject(conn, res.error)
      return rejectDraw(conn, res.error, claimedPixels(data))
    }
    const op = res.value
    if (op.kind === 'cursor') {
      // Relayed for those who draw; a viewer's cursor is ignored, never an error.
      if (canDraw(conn.user.role)) presence.cursor(conn, op.x, op.y)
      return
    }
    if (!canDraw(conn.user.role)) return rejectDraw(conn, protocolError('FORBIDDEN', `role ${conn.user.role} may not draw`), pixelCount(op))
    // Before the budget: a refused op costs no pixels. One field read each for a canvas without either.
    if (canvas.frozen && conn.user.role !== 'admin') return rejectDraw(conn, protocolError('FROZEN', `canvas ${canvas.id} is frozen`), pixelCount(op))
    if (canvas.palette !== null) {
      const off = op.kind === 'rect' ? (canvas.palette.has(op.color) ? null : op.color) : canvas.offPalette(op.records)
      if (off !== null) return rejectDraw(conn, protocolError('BAD_COLOR', `${toHexColor(off)} is not in canvas ${canvas.id}'s palette`), pixelCount(op))
    }
    if (opts.locked !== undefined && conn.user.role !== 'admin') {
      const lock = opts.locked(canvas.id, op)
      if (lock !== undefined) {
        return rejectDraw(conn, protocolError('LOCKED', `region locked (lock ${lock.id}${lock.reason === null ? '' : `: ${lock.reason}`}); nothing was applied`), pixelCount(op))
      }
    }
    // Storage first: a draw that cannot be stored must not spend the budget.
    const err = canvases.storageRefusal() ?? budget(conn, op) ?? canvases.draw(canvas, op, conn.user.id, conn.id, conn.user.name)
    if (err !== null) rejectDraw(conn, err, pixelCount(op))
  }

  /** Replace the token before it expires: same sub, later exp (contract §5). */
  function onAuth (conn: Connection, token: string): void {
    let next: Principal
    try {
      next = opts.verifyToken(token)
    } catch {
      return reject(conn, protocolError('FORBIDDEN', 'replacement token is not valid'))
    }
    if (next.id !== conn.user.id) return reject(conn, protocolError('FORBIDDEN', 'replacement token has another sub'))
    if (next.exp <= conn.user.exp) return reject(conn, protocolError('FORBIDDEN', 'replacement token must expire later'))
    const refused = opts.refusedUser?.(next.id) ?? null
    if (refused !== null) return reject(conn, protocolError('FORBIDDEN', refused))
    conn.user = next
    conn.send(encodeJson({ type: 'authenticated', exp: next.exp, role: next.role }))
  }

  /** The commit barrier: answered now, or by the beat that settles and shows its draws (canvas-service). */
  function onSync (conn: Connection, msg: { id?: unknown }): void {
    const canvas = canvases.get(conn.canvasId)
    const res = canvas === undefined
      ? { type: 'synced', ...('id' in msg ? { id: msg.id } : {}), seq: 0 }
      : canvases.sync(conn, canvas, msg)
    if (res === null) return
    if ('code' in res) return reject(conn, res)
    conn.send(encodeJson(res))
  }

  function onText (conn: Connection, text: string): void {
    const res = parseClientText(text, opts.maxJsonDepth)
    if (!res.ok) return reject(conn, res.error)
    const msg = res.value
    switch (msg.type) {
      case 'ping':
        conn.send(encodeJson(msg.id === undefined ? { type: 'pong' } : { type: 'pong', id: msg.id }))
        return
      case 'auth':
        return onAuth(conn, msg.token)
      case 'sync':
        return onSync(conn, msg)
      case 'subscribe': {
        const answer = (res: SubscribeResult): void => {
          if (conn.closed) return
          if (!res.ok) return reject(conn, res.error)
          conn.send(encodeJson({ type: 'subscribed', stream: msg.stream, offset: res.offset, ...(res.recovered === undefined ? {} : { recovered: res.recovered }) }))
          for (const frame of res.replay) conn.send(frame, true)
        }
        return later(conn, streams.subscribe(conn, msg.stream, msg.since, msg.last), answer)
      }
      case 'unsubscribe':
        // Idempotent: leaving a stream one is not in is still "unsubscribed".
        streams.unsubscribe(conn, msg.stream)
        conn.send(encodeJson({ type: 'unsubscribed', stream: msg.stream }))
        return
      case 'publish': {
        const res = streams.publish(conn, msg.stream, msg.data)
        if ('code' in res) return reject(conn, res)
        return later(conn, res, (p) => { if (!conn.closed) conn.send(encodeJson({ type: 'published', stream: msg.stream, offset: p.offset })) })
      }
    }
  }

  /**
   * Answer now, or when the cluster answered (cluster mode: Redis ordered a
   * message, or a stream's history was loaded). A failure there is Redis
   * being unreachable: UNAVAILABLE, the connection lives on.
   */
  function later<T> (conn: Connection, res: T | Promise<T>, answer: (v: T) => void): void {
    if (!(res instanceof Promise)) return answer(res)
    res.then(answer, (err: Error) => {
      if (conn.closed) return
      opts.log.warn({ err: err.message, conn: conn.id }, 'cluster unavailable for a stream request')
      reject(conn, protocolError('UNAVAILABLE', 'the cluster is unavailable; try again'))
    }).catch((err: unknown) => { failed(conn, err) })
  }

  return function onClientMessage (conn: Connection, data: Buffer, isBinary: boolean): void {
    if (conn.closed) return
    conn.messagesIn++
    conn.bytesIn += data.length
    const kind = inKind(data, isBinary)
    counts.messagesIn[kind]++
    counts.bytesIn[kind] += data.length
    try {
      if (isBinary) onBinary(conn, data)
      else onText(conn, data.toString('utf8'))
    } catch (err) {
      failed(conn, err)
    }
  }
}
