import type { FastifyError, FastifyPluginAsync, FastifyRequest } from 'fastify'
import type { ServerResponse } from 'node:http'
import type { Socket } from 'node:net'
import type { WebSocket } from 'ws'
import { Type, type Static } from 'typebox'
import { tokenFromHandshake } from '../../src/auth/principal.js'
import { connectionTopic, userTopic } from '../../src/broker/broker.js'
import type { Canvas } from '../../src/canvas/canvas.js'
import { requireCanvas } from '../../src/canvas/admin.js'
import { canvasHello } from '../../src/canvas/canvas-state.js'
import type { Connection, Principal } from '../../src/connection/connection.js'
import type { Reservation } from '../../src/connection/registry.js'
import { createMessageHandler } from '../../src/connection/session.js'
import type { SocketEvents, WsTransport } from '../../plugins/websocket/ws-transport.js'
import { HttpError, errorCodeOf } from '../../src/http-error.js'
import { bump } from '../../src/metrics.js'
import { encodeJson } from '../../src/protocol/messages.js'
import { banMessage } from '../../src/moderation/bans.js'

const Query = Type.Object({
  canvas: Type.String({ pattern: '^[a-z0-9-]{1,32}$', default: 'main' }),
  since: Type.Optional(Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER })),
  epoch: Type.Optional(Type.String({ maxLength: 64 })),
  token: Type.Optional(Type.String({ maxLength: 8192 }))
})
type HandshakeQuery = Static<typeof Query>

interface Handshake {
  user: Principal
  canvas: Canvas
  resume: 'replay' | 'snapshot'
  slot: Reservation
  /** the raw socket's 'close' listener that gives the slot back if the upgrade never completes */
  onGone: () => void
}

declare module 'fastify' {
  interface FastifyRequest { handshake: Handshake | null }
}

/** The one WebSocket endpoint, GET /ws (contract §1, §2). */
const wsRoute: FastifyPluginAsync = async function wsRoute (fastify) {
  const c = fastify.config
  const onClientMessage = createMessageHandler({
    canvases: fastify.canvases,
    streams: fastify.streams,
    presence: fastify.presence,
    log: fastify.log,
    pixels: fastify.pixelBudget,
    verifyToken: fastify.verifyToken,
    maxStrokePixels: c.MAX_STROKE_PIXELS,
    maxRectPixels: c.MAX_RECT_PIXELS,
    badMessageLimit: c.BAD_MESSAGE_LIMIT,
    rateAbuseLimit: c.RATE_ABUSE_LIMIT,
    maxJsonDepth: c.MAX_JSON_DEPTH,
    onUnavailable: fastify.connections.drawUnavailable,
    locked: fastify.locks.blocking,
    refusedUser: function refusedUser (user: string) {
      const ban = fastify.bans.of(user)
      return ban === undefined ? null : banMessage(ban)
    },
    meter: fastify.meter
  })
  const log = fastify.log
  /** Where every connection's socket events go: built once here, shared by all connections. */
  const events: SocketEvents = {
    message: onClientMessage,
    pong: fastify.connections.onPong,
    // ws raises 'error' for what a peer got wrong (bad frames, oversize,
    // invalid UTF-8) after sending its close code: a warning, not a fault of
    // ours. The connection records that code; ws finishes the close
    // handshake (bounded by WS_CLOSE_TIMEOUT_MS), so the close frame is not
    // lost to a reset while the peer is still sending.
    protocolError: function onProtocolError (conn: Connection, code: number | null, err: Error) {
      log.warn({ err, conn: conn.id, code }, 'socket error')
      if (code !== null) conn.closing(code)
    },
    close: fastify.connections.cleanup
  }
  fastify.decorateRequest('handshake', null)

  /**
   * Cluster mode: the global and per-user caps over every live node (one
   * round trip). Runs with this connection's slot already reserved, so the
   * counts it sends, and every heartbeat from now on, include it: a
   * heartbeat between the admission and the reservation would otherwise
   * rewrite this node's counts without it, and let another node admit one
   * connection too many. A refusal is the same answer as the node's own
   * cap; Redis unreachable is 503.
   */
  async function admitInCluster (user: string): Promise<void> {
    const { cluster, connections } = fastify
    if (cluster === null) return
    const { registry } = connections
    let verdict
    try {
      verdict = await cluster.admit(user, registry.size + registry.reserved, registry.ofUser(user), registry.limits.maxConnections, registry.limits.maxPerUser)
      // hello's limits and the first draws here see the user's cluster-wide budget
      if (verdict === 'ok') await fastify.pixelBudget.load?.(user)
    } catch {
      throw new HttpError(503, 'UNAVAILABLE', 'the cluster is unavailable', { 'retry-after': '5' })
    }
    if (verdict === 'global') throw new HttpError(503, 'UNAVAILABLE', 'connection limit reached', { 'retry-after': '5' })
    if (verdict === 'user') throw new HttpError(429, 'TOO_MANY_CONNECTIONS', 'too many connections for this user', { 'retry-after': '10' })
  }

  /** Everything that can refuse a connection, as plain HTTP before the upgrade. */
  async function checkHandshake (request: FastifyRequest<{ Querystring: HandshakeQuery }>): Promise<Handshake> {
    const { connections, canvases, cluster } = fastify
    // The one draining check: an upgrade that passed it completes in the same
    // turn (only microtasks until onConnection), so no connection opens once
    // the drain has begun, and the drain's closeAll() sees every one.
    if (connections.draining) throw new HttpError(503, 'UNAVAILABLE', 'server is draining', { 'retry-after': '5' })
    const token = tokenFromHandshake(request.headers, request.query.token)
    let user: Principal
    if (token !== undefined) user = fastify.verifyToken(token)
    else if (c.ANONYMOUS === 'read') user = { id: `anon:${request.ip}`, name: 'anonymous', role: 'viewer', exp: 0 }
    else throw new HttpError(401, 'TOKEN_REQUIRED', 'a token is required')
    const ban = fastify.bans.of(user.id)
    if (ban !== undefined) throw new HttpError(403, 'BANNED', banMessage(ban))
    const origin = request.headers.origin
    if (origin !== undefined && !originAllowed(origin, request.headers.host)) {
      throw new HttpError(403, 'ORIGIN_FORBIDDEN', 'origin not allowed')
    }
    const canvas = requireCanvas(canvases, request.query.canvas)
    if (cluster !== null) {
      // the reservation takes a cluster-unique id: have one at hand first
      try {
        await cluster.ensureIds()
      } catch {
        throw new HttpError(503, 'UNAVAILABLE', 'the cluster is unavailable', { 'retry-after': '5' })
      }
    }
    const slot = connections.registry.reserve(request.ip, user.id)
    if ('status' in slot) throw new HttpError(slot.status, slot.error, slot.message, { 'retry-after': String(slot.retryAfterSec) })
    // From here every refusal gives the slot back.
    try {
      await admitInCluster(user.id)
      // The wait above may have crossed the start of a drain: checked again, in the turn of the upgrade.
      if (connections.draining) throw new HttpError(503, 'UNAVAILABLE', 'server is draining', { 'retry-after': '5' })
      if (request.raw.socket.destroyed) throw new HttpError(400, 'GONE', 'the client went away')
    } catch (err) {
      slot.release()
      throw err
    }
    // A peer that resets before the upgrade completes gives its slot back
    // (the socket was open just above, so its 'close' is still to come).
    const onGone = () => slot.release()
    request.raw.socket.once('close', onGone)
    const { since, epoch } = request.query
    return { user, canvas, slot, onGone, resume: canvases.canReplay(canvas, since, epoch) ? 'replay' : 'snapshot' }
  }

  function originAllowed (origin: string, host: string | undefined): boolean {
    if (c.allowedOrigins.includes(origin)) return true
    try {
      return host !== undefined && new URL(origin).host === host
    } catch {
      return false
    }
  }

  fastify.get<{ Querystring: HandshakeQuery }>('/', {
    schema: { querystring: Query },
    // Per IP; runs in onRequest, before anything else costs us work.
    config: { rateLimit: { max: c.HANDSHAKE_RATE, timeWindow: 1000 } },
    websocket: true,
    preHandler: async function handshake (request) {
      request.handshake = await checkHandshake(request)
    },
    // Every refusal (rate, schema, the checks above) is an error reply: count it by its code.
    onError: async function countRefusal (_request, reply, err: FastifyError | HttpError) {
      bump(fastify.meter.counts.connectionsRejected, errorCodeOf(err, err.statusCode ?? reply.statusCode))
    }
  }, function onConnection (ws: WebSocket, request) {
    const hs = request.handshake
    if (hs === null) return ws.terminate()
    // The ws server builds every socket as a WsTransport (plugins/websocket.ts).
    const socket = ws as WsTransport
    const { connections, canvases } = fastify
    const conn = connections.open(socket, hs.user, hs.canvas.id, hs.slot)
    // The slot is the connection's now: the close listener that would give it back goes.
    const raw = request.raw.socket as Socket & { _httpMessage?: ServerResponse | null }
    raw.removeListener('close', hs.onGone)
    request.handshake = null
    // Let the upgrade request go (its reply, raw request and response,
    // headers, logger, hook state: ~4 KB of heap). @fastify/websocket would hold it for the connection's life by
    // its 'error' listener (a closure over request and reply, which logs
    // and terminates: bind() adds ours) and by the upgrade
    // response still attached to the socket.
    socket.removeAllListeners('error')
    raw._httpMessage?.detachSocket(raw)
    socket.bind(conn, events)

    const { canvas } = hs
    // The budget as this user (and, for a guest, this IP) has it now: a page shows the cooldown before any refusal.
    const { nextPixelInMs, ...budget } = fastify.pixelBudget.state({ user: hs.user.id, ip: request.ip })
    conn.send(encodeJson({
      type: 'hello',
      connectionId: conn.id,
      user: { id: hs.user.id, name: hs.user.name, role: hs.user.role },
      canvas: canvasHello(canvas),
      resume: hs.resume,
      limits: {
        maxMessageBytes: c.MAX_MESSAGE_BYTES,
        maxStrokePixels: c.MAX_STROKE_PIXELS,
        maxRectPixels: c.MAX_RECT_PIXELS,
        ...budget,
        nextPixelAt: Date.now() + nextPixelInMs,
        nextPixelInMs,
        tickMs: c.TICK_MS
      },
      heartbeatMs: c.HEARTBEAT_MS,
      // §9: which node serves the connection, in cluster mode only
      ...(c.redisUrl !== null ? { node: c.NODE_ID } : {})
    }))
    // A user broadcast or a ban, and a kick, are deliveries to these topics (on whatever node), not scans.
    fastify.hub.subscribe(conn, userTopic(conn.user.id))
    fastify.hub.subscribe(conn, connectionTopic(conn.id))
    canvases.attach(conn, canvas, hs.resume === 'replay' ? request.query.since ?? null : null)
    fastify.presence.join(conn)
  })
}

export default wsRoute
