import fp from 'fastify-plugin'
import fastifyJwt, { type FastifyJWTOptions } from '@fastify/jwt'
import { principalFromClaims } from '../src/auth/principal.js'
import { loadVerificationKeys, type VerificationKey } from '../src/auth/keys.js'
import { TokenRefused, createTokenVerifier, serverSignOptions } from '../src/auth/tokens.js'
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

declare module '@fastify/jwt' {
  interface FastifyJWT {
    /** fastify.jwt holds one namespace per verification key (namespaceOf) */
    namespaces: string
  }
}

/** The @fastify/jwt namespace of a key: `secret`, `previousSecret`, `publicKey`, `jwks<index>`. */
export function namespaceOf (key: VerificationKey, index: number): string {
  switch (key.source) {
    case 'JWT_SECRET': return 'secret'
    case 'JWT_PREVIOUS_SECRET': return 'previousSecret'
    case 'JWT_PUBLIC_KEY_FILE': return 'publicKey'
    default: return `jwks${index}`
  }
}

/**
 * JWT verification through @fastify/jwt: the HS256 secrets (JWT_SECRET, and
 * JWT_PREVIOUS_SECRET until JWT_PREVIOUS_UNTIL), public keys from
 * JWT_PUBLIC_KEY_FILE and JWT_JWKS_FILE pinned to JWT_ALGORITHMS, `iss` and
 * `aud` when configured; `exp` and `sub` always required. Each key is its own
 * @fastify/jwt namespace whose `verify` options pin its algorithms and hold
 * the claim checks; src/auth/tokens.ts picks which namespaces may check a
 * token (by kid, alg, the previous secret's end) and maps their errors.
 * fastify.jwt.<ns>.verify is synchronous with a static key, which the
 * handshake, the admin hook and the in-band `auth` message rely on. Only
 * JWT_SECRET gets a private side: the others cannot sign. A bad key file
 * stops boot.
 */
export default fp(async function auth (fastify) {
  const c = fastify.config
  const { keys, skipped } = loadVerificationKeys(c)
  if (skipped.length > 0) fastify.log.warn({ kids: skipped }, 'JWKS keys not usable for signatures with JWT_ALGORITHMS are ignored')

  const registrations: FastifyJWTOptions[] = []
  const verify = createTokenVerifier({
    keys,
    issuers: c.jwtIssuers,
    audiences: c.jwtAudiences,
    verifierFor (key, index, options) {
      const namespace = namespaceOf(key, index)
      const signs = key.source === 'JWT_SECRET'
      registrations.push({
        namespace,
        secret: signs ? key.key : { public: key.key },
        verify: options,
        ...(signs ? { sign: serverSignOptions({ issuer: c.jwtIssuers[0], audience: c.jwtAudiences[0] }) } : {})
      })
      return (token) => fastify.jwt[namespace].verify<Record<string, unknown>>(token)
    }
  })
  for (const options of registrations) await fastify.register(fastifyJwt, options)

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
  fastify.decorate('signToken', function signToken (claims: Record<string, unknown>): string {
    return fastify.jwt.secret.sign(claims)
  })
}, { name: 'auth', dependencies: ['config'] })
