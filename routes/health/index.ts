import type { FastifyPluginAsync } from 'fastify'

type Check = 'ok' | string

/** Liveness and readiness (contract §7). */
const health: FastifyPluginAsync = async function health (fastify) {
  const ping = fastify.db.prepare('SELECT 1')
  fastify.get('/', function live () {
    return { status: 'ok' }
  })

  /** 200 when every check is ok, else 503 naming the failing ones. */
  fastify.get('/ready', function ready (_request, reply) {
    const checks: Record<string, Check> = {
      database: databaseCheck(),
      storage: fastify.canvases.storageError ?? 'ok',
      draining: fastify.connections.draining ? 'server is draining' : 'ok'
    }
    const failing = Object.keys(checks).filter((k) => checks[k] !== 'ok')
    if (failing.length === 0) return { status: 'ok', checks }
    return reply.code(503).header('retry-after', '5').send({
      error: 'NOT_READY',
      message: `failing: ${failing.join(', ')}`,
      checks
    })
  })

  function databaseCheck (): Check {
    try {
      ping.get()
      return 'ok'
    } catch (err) {
      return (err as Error).message
    }
  }
}

export default health
