import fp from 'fastify-plugin'
import jwt from '@fastify/jwt'
import { principalFromClaims } from '../src/auth/principal.js'
import type { Principal } from '../src/connection/connection.js'
import { HttpError } from '../src/http-error.js'

declare module 'fastify' {
  interface FastifyInstance {
    /** Verify a JWT into a Principal; throws a 401 HttpError otherwise. */
    verifyToken (token: string): Principal
  }
}

/**
 * JWT verification with the algorithm pinned to HS256 (so `alg: none` and
 * every other algorithm are refused) and `exp` and `sub` required.
 */
export default fp(async function auth (fastify) {
  await fastify.register(jwt, {
    secret: fastify.config.JWT_SECRET,
    sign: { algorithm: 'HS256' },
    verify: { algorithms: ['HS256'], requiredClaims: ['exp', 'sub'] }
  })

  fastify.decorate('verifyToken', function verifyToken (token: string): Principal {
    let claims: Record<string, unknown>
    try {
      claims = fastify.jwt.verify<Record<string, unknown>>(token)
    } catch (err) {
      const expired = (err as { code?: string }).code === 'FAST_JWT_EXPIRED'
      throw new HttpError(401, expired ? 'TOKEN_EXPIRED' : 'INVALID_TOKEN', expired ? 'token expired' : 'invalid token')
    }
    const res = principalFromClaims(claims)
    if (!res.ok) throw new HttpError(401, 'INVALID_TOKEN', res.message)
    return res.principal
  })
}, { name: 'auth', dependencies: ['config'] })
