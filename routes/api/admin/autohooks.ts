import type { FastifyPluginAsync } from 'fastify'
import type { Principal } from '../../../src/connection/connection.js'
import { HttpError } from '../../../src/http-error.js'
import { BEARER_CHALLENGE, bearerToken } from '../../../src/auth/principal.js'
import { banMessage } from '../../../src/moderation/bans.js'

declare module 'fastify' {
  interface FastifyRequest {
    /** the verified admin behind an /api/admin request (null elsewhere) */
    admin: Principal | null
  }
}

const READS = new Set(['GET', 'HEAD', 'OPTIONS'])

/**
 * The one role check of the admin API: every route under routes/api/admin
 * (cascaded to subfolders) needs `Authorization: Bearer <jwt>` with role
 * admin (and not banned). It runs first, before validation and the route's
 * rate limit.
 */
const adminOnly: FastifyPluginAsync = async function adminOnly (fastify) {
  fastify.decorateRequest('admin', null)
  fastify.addHook('onRequest', async function requireAdmin (request) {
    const token = bearerToken(request.headers.authorization)
    if (token === undefined) throw new HttpError(401, 'TOKEN_REQUIRED', 'an admin token is required (Authorization: Bearer)', { ...BEARER_CHALLENGE })
    let user: Principal
    try {
      user = fastify.verifyToken(token)
    } catch (err) {
      if (!(err instanceof HttpError)) throw err
      throw new HttpError(err.statusCode, err.error, err.message, { ...err.headers, ...BEARER_CHALLENGE })
    }
    if (user.role !== 'admin') throw new HttpError(403, 'FORBIDDEN', `role ${user.role} may not use the admin API`)
    const ban = fastify.bans.of(user.id)
    if (ban !== undefined) throw new HttpError(403, 'BANNED', banMessage(ban))
    request.admin = user
  })

  // The audit log: every admin write, once, whatever route it is (so
  // routes added later are covered without doing anything), with the status
  // it got. Only verified admins are recorded: a request refused for its
  // token names nobody (the request log has it). Reads are not recorded.
  fastify.addHook('onResponse', async function auditWrite (request, reply) {
    if (request.admin === null || READS.has(request.method)) return
    try {
      fastify.audit.record({
        admin: request.admin.id,
        method: request.method,
        route: request.routeOptions.url ?? request.url.split('?')[0],
        url: request.url.split('?')[0],
        params: request.params,
        body: request.body,
        status: reply.statusCode
      })
    } catch (err) {
      // The answer is gone already: a failed audit write is logged, loudly.
      request.log.error({ err }, 'audit entry not recorded')
    }
  })
}

export default adminOnly
