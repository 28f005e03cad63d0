import fp from 'fastify-plugin'
import type { Broker } from '../src/broker/broker.js'
import { createMemoryBroker } from '../src/broker/memory.js'

declare module 'fastify' {
  interface FastifyInstance { broker: Broker }
}

/**
 * The seam between nodes: every outgoing event is published here and comes
 * back to this node's fan-out (plugins/hub.ts). Without REDIS_URL a node is
 * alone and the broker lives in memory; the Redis broker (docs/architecture.md)
 * will be chosen here when REDIS_URL is set (until then config refuses it).
 */
export default fp(async function broker (fastify) {
  fastify.decorate('broker', createMemoryBroker({ maxTopics: fastify.config.MAX_STREAMS }))
}, { name: 'broker', dependencies: ['config'] })
