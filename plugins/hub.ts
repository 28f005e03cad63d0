import fp from 'fastify-plugin'
import { createHub, type Hub } from '../src/hub/hub.js'
import type { Connection } from '../src/connection/connection.js'

declare module 'fastify' {
  interface FastifyInstance { hub: Hub<Connection> }
}

/** The subscription hub: who receives what, for canvases and streams alike. */
export default fp(async function hub (fastify) {
  fastify.decorate('hub', createHub<Connection>())
}, { name: 'hub' })
