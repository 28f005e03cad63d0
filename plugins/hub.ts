import fp from 'fastify-plugin'
import type { Hub } from '../src/hub/hub.js'
import { createPipeline, type Fanout } from '../src/hub/fanout.js'
import type { Connection } from '../src/connection/connection.js'

declare module 'fastify' {
  interface FastifyInstance {
    hub: Hub<Connection>
    /** where each module registers the handler of its event type (src/hub/fanout.ts) */
    fanout: Fanout
  }
}

/** The subscription hub (who receives what) and the one local fan-out the broker hands publications to. */
export default fp(async function hub (fastify) {
  const { hub, fanout } = createPipeline<Connection>(fastify.broker)
  fastify.decorate('hub', hub)
  fastify.decorate('fanout', fanout)
}, { name: 'hub', dependencies: ['broker'] })
