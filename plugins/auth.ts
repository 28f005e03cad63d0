import fp from 'fastify-plugin'
import { principalFromClaims } from '../src/auth/principal.js'
import { loadVerificationKeys } from '../src/auth/keys.js'
import { TokenRefused, createTokenSigner, createTokenVerifier } from '../src/auth/tokens.js'
import type { Principal } from '../src/connection/connection.js'
import { HttpError } from '../src/http-error.js'

declare module 'fastify' {
  interface FastifyInstance {
    /** Verify a JWT into a Principal; throws a 401 HttpError otherwise. */
    verifyToken (token: string): Principal
    /** Sign claims (with their own `exp`) as this server does: HS256 with JWT_SECRET. */
    signToken (claims: Record<string, unknown>): string
  }
}

/**
 * JWT verification: the HS256 secrets (JWT_SECRET, and JWT_PREVIOUS_SECRET
 * until JWT_PREVIOUS_UNTIL), public keys from JWT_PUBLIC_KEY_FILE and
 * JWT_JWKS_FILE pinned to JWT_ALGORITHMS, `iss` and `aud` when configured;
 * `exp` and `sub` always required. A bad key file stops boot.
 */
export default fp(async function auth (fastify) {
  const c = fastify.config
  const { keys, skipped } = loadVerificationKeys(c)
  if (skipped.length > 0) fastify.log.warn({ kids: skipped }, 'JWKS keys not usable for signatures with JWT_ALGORITHMS are ignored')
  const verify = createTokenVerifier({ keys, issuers: c.jwtIssuers, audiences: c.jwtAudiences })
  const sign = createTokenSigner({ secret: c.JWT_SECRET, issuer: c.jwtIssuers[0], audience: c.jwtAudiences[0] })

  fastify.decorate('verifyToken', function verifyToken (token: string): Principal {
    let claims: Record<string, unknown>
    try {
      claims = verify(token)
    } catch (err) {
      if (err instanceof TokenRefused) throw new HttpError(401, err.code, err.message)
      throw err
    }
    const res = principalFromClaims(claims)
    if (!res.ok) throw new HttpError(401, 'INVALID_TOKEN', res.message)
    return res.principal
  })
  fastify.decorate('signToken', sign)
}, { name: 'auth', dependencies: ['config'] })
