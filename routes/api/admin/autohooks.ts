import type { FastifyPluginAsync } from 'fastify'
import type { Principal } from '../../../src/connection/connection.js'
import { HttpError } from '../../../src/http-error.js'

declare module 'fastify' {
  interface FastifyRequest {
    /** the verified admin behind an /api/admin request (null elsewhere) */
    admin: Principal | null
  }
}

const BEARER = /^Bearer\s+(\S+)\s*$/i
/** RFC 6750: a 401 names the scheme it wants */
const CHALLENGE = { 'www-authenticate': 'Bearer' }

/**
 * The one role check of the admin API: every route under routes/api/admin
 * (cascaded to subfolders) needs `Authorization: Bearer <jwt>` with role
 * admin. It runs first, before validation and the route's rate limit.
 */
const adminOnly: FastifyPluginAsync = async function adminOnly (fastify) {
  fastify.decorateRequest('admin', null)
  fastify.addHook('onRequest', async function requireAdmin (request) {
    const m = BEARER.exec(request.headers.authorization ?? '')
    if (m === null) throw new HttpError(401, 'TOKEN_REQUIRED', 'an admin token is required (Authorization: Bearer)', CHALLENGE)
    let user: Principal
    try {
      user = fastify.verifyToken(m[1])
    } catch (err) {
      if (!(err instanceof HttpError)) throw err
      throw new HttpError(err.statusCode, err.error, err.message, { ...err.headers, ...CHALLENGE })
    }
    if (user.role !== 'admin') throw new HttpError(403, 'FORBIDDEN', `role ${user.role} may not use the admin API`)
    request.admin = user
  })
}

export default adminOnly
