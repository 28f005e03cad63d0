import type { FastifyPluginAsync } from 'fastify'

/** Liveness: 200 while the process runs (contract §7). */
const health: FastifyPluginAsync = async function health (fastify) {
  fastify.get('/', function live () {
    return { status: 'ok' }
  })
}

export default health
