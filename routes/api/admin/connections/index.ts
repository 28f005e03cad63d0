import type { FastifyPluginAsync } from 'fastify'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import { Type } from 'typebox'
import { CANVAS_ID_PATTERN, connectionView, type ConnectionView } from '../../../../src/canvas/admin.js'
import { connectionTopic } from '../../../../src/broker/broker.js'
import type { Connection } from '../../../../src/connection/connection.js'
import { HttpError } from '../../../../src/http-error.js'
import { Disconnect } from '../../../../src/connection/disconnect.js'
import { ROLES } from '../../../../src/protocol/wire.js'

const Role = Type.Enum(ROLES)
const ConnectionSchema = Type.Object({
  id: Type.Integer({ description: 'unique across the cluster' }),
  node: Type.String({ description: 'the node that holds it (NODE_ID)' }),
  user: Type.Object({ id: Type.String(), name: Type.String(), role: Role }),
  role: Role,
  canvas: Type.String(),
  streams: Type.Array(Type.String(), { description: 'stream subscriptions, from the hub' }),
  ip: Type.String(),
  connectedAt: Type.String({ format: 'date-time' }),
  messagesIn: Type.Integer(),
  messagesOut: Type.Integer(),
  bytesOut: Type.Integer(),
  bufferedBytes: Type.Integer({ description: 'output queued in the socket, not yet written' })
})
const Filters = Type.Object({
  canvas: Type.Optional(Type.String({ pattern: CANVAS_ID_PATTERN, description: 'only connections on this canvas' })),
  user: Type.Optional(Type.String({ minLength: 1, maxLength: 128, description: 'only connections of this user (JWT sub)' }))
})
const IdParams = Type.Object({ id: Type.Integer({ minimum: 1, maximum: 0xffffffff }) })
const common = { tags: ['admin'], security: [{ bearer: [] }] }

/** Open: no close started (a kicked connection is gone at once, though its close handshake may still run). */
const live = (conn: Connection) => conn.state === 'open'

/**
 * Live connections: list, inspect, kick (contract §7). In cluster mode
 * (§9.5) every node answers: the list gathers every live node's connections
 * (each node's in the order they connected, this node's first), and a kick
 * is a disconnect event on the connection's topic, which closes it on
 * whatever node holds it. A node that does not answer within
 * CLUSTER_REPLY_TIMEOUT_MS is left out of a list (the `x-partial` header
 * counts such nodes).
 */
const connectionRoutes: FastifyPluginAsync = async function connectionRoutes (instance) {
  const fastify = instance.withTypeProvider<TypeBoxTypeProvider>()
  const node = fastify.config.NODE_ID
  const view = (conn: Connection) => connectionView(conn, fastify.hub.topicsOf(conn.id), node)
  const { cluster } = fastify

  function localList (canvas: string | undefined, user: string | undefined): ConnectionView[] {
    const out = []
    for (const conn of fastify.connections.registry.all()) {
      if (!live(conn)) continue
      if (canvas !== undefined && conn.canvasId !== canvas) continue
      if (user !== undefined && conn.user.id !== user) continue
      out.push(view(conn))
    }
    return out
  }

  function localGet (id: number): ConnectionView | null {
    const conn = fastify.connections.registry.get(id)
    return conn === undefined || !live(conn) ? null : view(conn)
  }

  if (cluster !== null) {
    cluster.on('connections', (d: { canvas?: string, user?: string }) => localList(d.canvas, d.user))
    cluster.on('connection', (d: { id: number }) => localGet(d.id))
  }

  fastify.get('/', {
    schema: { ...common, summary: 'Every live connection of every node, in the order they connected on each node', querystring: Filters, response: { 200: Type.Array(ConnectionSchema) } },
  }, async function listConnections (request, reply) {
    const { canvas, user } = request.query
    const out = localList(canvas, user)
    if (cluster === null) return out
    const res = await cluster.request<ConnectionView[]>('connections', { canvas, user })
    if (res.missing > 0) reply.header('x-partial', String(res.missing))
    for (const r of res.replies.sort((a, b) => a.node.localeCompare(b.node))) out.push(...r.data)
    return out
  })

  fastify.get('/:id', {
    schema: { ...common, summary: 'One live connection, on any node', params: IdParams, response: { 200: ConnectionSchema } },
  }, async function getConnection (request) {
    const { id } = request.params
    const here = localGet(id)
    if (here !== null) return here
    if (cluster !== null) {
      const res = await cluster.request<ConnectionView | null>('connection', { id })
      for (const r of res.replies) if (r.data !== null) return r.data
    }
    throw new HttpError(404, 'CONNECTION_NOT_FOUND', `no connection ${id}`)
  })

  fastify.delete('/:id', {
    schema: { ...common, summary: 'Close a connection with 4403 (kicked), on any node', params: IdParams, response: { 204: Type.Null() } },
    config: { rateLimit: fastify.restLimits.write }
  }, async function kickConnection (request, reply) {
    const { id } = request.params
    // One path for a kick here or on another node: the node holding it closes it and counts it.
    const { delivered } = await fastify.broker.deliver(connectionTopic(id), { type: 'disconnect', ...Disconnect.KICKED })
    if (delivered === 0) throw new HttpError(404, 'CONNECTION_NOT_FOUND', `no connection ${id}`)
    request.log.info({ conn: id, by: request.admin?.id }, 'connection kicked')
    reply.code(204).send(null)
  })
}

export default connectionRoutes
