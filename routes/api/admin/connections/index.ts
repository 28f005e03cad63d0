import type { FastifyPluginAsync } from 'fastify'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import { Type } from 'typebox'
import { CANVAS_ID_PATTERN, connectionView } from '../../../../src/canvas/admin.js'
import type { Connection } from '../../../../src/connection/connection.js'
import { HttpError } from '../../../../src/http-error.js'
import { Disconnect } from '../../../../src/connection/disconnect.js'
import { ROLES } from '../../../../src/protocol/wire.js'

const Role = Type.Enum(ROLES)
const ConnectionSchema = Type.Object({
  id: Type.Integer(),
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

/** Live connections: list, inspect, kick (contract §7). */
const connectionRoutes: FastifyPluginAsync = async function connectionRoutes (instance) {
  const fastify = instance.withTypeProvider<TypeBoxTypeProvider>()
  const view = (conn: Connection) => connectionView(conn, fastify.hub.topicsOf(conn.id))

  function connectionOr404 (id: number): Connection {
    const conn = fastify.connections.registry.get(id)
    if (conn === undefined || !live(conn)) throw new HttpError(404, 'CONNECTION_NOT_FOUND', `no connection ${id}`)
    return conn
  }

  fastify.get('/', {
    schema: { ...common, summary: 'Every live connection, in the order they connected', querystring: Filters, response: { 200: Type.Array(ConnectionSchema) } },
  }, function listConnections (request) {
    const { canvas, user } = request.query
    const out = []
    for (const conn of fastify.connections.registry.all()) {
      if (!live(conn)) continue
      if (canvas !== undefined && conn.canvasId !== canvas) continue
      if (user !== undefined && conn.user.id !== user) continue
      out.push(view(conn))
    }
    return out
  })

  fastify.get('/:id', {
    schema: { ...common, summary: 'One live connection', params: IdParams, response: { 200: ConnectionSchema } },
  }, function getConnection (request) {
    return view(connectionOr404(request.params.id))
  })

  fastify.delete('/:id', {
    schema: { ...common, summary: 'Close a connection with 4403 (kicked)', params: IdParams, response: { 204: Type.Null() } },
    config: { rateLimit: fastify.restLimits.write }
  }, function kickConnection (request, reply) {
    const conn = connectionOr404(request.params.id)
    conn.close(Disconnect.KICKED)
    request.log.info({ conn: conn.id, user: conn.user.id, by: request.admin?.id }, 'connection kicked')
    reply.code(204).send(null)
  })
}

export default connectionRoutes
