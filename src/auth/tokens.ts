// Verifying and signing JWTs, without any framework. The verifier picks
// candidate keys by the token's `kid` and `alg` (keys.ts says why that is
// safe), checks the signature with each until one fits, then the claims:
// `exp` and `sub` always, `iss` and `aud` when configured. How one key checks
// a token is pluggable: the server hands in @fastify/jwt's verifiers (one
// namespace per key, plugins/auth.ts), registered with the options built
// here, so both paths apply the same checks; without one, a fast-jwt
// verifier (the library @fastify/jwt wraps) is built from the same options.
// The signer is the server's own: HS256 with JWT_SECRET, for guest tokens
// and `npm run token`.
import { createDecoder, createSigner, createVerifier } from 'fast-jwt'
import type { Algorithm, VerificationKey } from './keys.js'

export type TokenRefusal = 'INVALID_TOKEN' | 'TOKEN_EXPIRED'

/** Why a token is not accepted; the message is safe to show the client. */
export class TokenRefused extends Error {
  readonly code: TokenRefusal
  constructor (code: TokenRefusal, message: string) {
    super(message)
    this.code = code
  }
}

/** How one key checks a token: the verified claims, or fast-jwt's TokenError (its `code` is read). */
export type KeyVerifier = (token: string) => Record<string, unknown>

/** fast-jwt verifier options (as @fastify/jwt's `verify` option takes them) for one key. */
export interface KeyVerifyOptions {
  algorithms: Algorithm[]
  requiredClaims: string[]
  allowedIss?: string[]
  allowedAud?: string[]
}

/** The key's pinned algorithms, `exp` and `sub` required, `iss`/`aud` required and matched exactly when configured. */
export function keyVerifyOptions (key: VerificationKey, issuers: string[] = [], audiences: string[] = []): KeyVerifyOptions {
  return {
    algorithms: key.algorithms,
    requiredClaims: ['exp', 'sub', ...(issuers.length > 0 ? ['iss'] : []), ...(audiences.length > 0 ? ['aud'] : [])],
    ...(issuers.length > 0 ? { allowedIss: issuers } : {}),
    ...(audiences.length > 0 ? { allowedAud: audiences } : {})
  }
}

export interface VerifierOptions {
  keys: VerificationKey[]
  /** accepted `iss` values; empty: not checked */
  issuers?: string[]
  /** accepted `aud` values (a token's aud may be a list: one match is enough); empty: not checked */
  audiences?: string[]
  /** ms since the epoch (tests move it); used for keys with `until` */
  now?: () => number
  /**
   * The verifier of keys[index], which must apply `options` (its pinned
   * algorithms and the claim checks); default: fast-jwt's createVerifier.
   */
  verifierFor?: (key: VerificationKey, index: number, options: KeyVerifyOptions) => KeyVerifier
}

const decode = createDecoder({ complete: true })

const fastJwtVerifier = (key: VerificationKey, _index: number, options: KeyVerifyOptions): KeyVerifier =>
  createVerifier({ key: key.key, ...options }) as KeyVerifier

export function createTokenVerifier ({ keys, issuers = [], audiences = [], now = Date.now, verifierFor = fastJwtVerifier }: VerifierOptions) {
  const verifiers = keys.map((k, i) => ({ ...k, verify: verifierFor(k, i, keyVerifyOptions(k, issuers, audiences)) }))
  const jwks = keys.some((k) => k.kid !== undefined)

  /** The keys a token may be checked with: by kid when a JWKS names it, else the keys without one. */
  function candidates (header: Record<string, unknown>): typeof verifiers {
    const { kid, alg } = header
    if (kid !== undefined && typeof kid !== 'string') throw new TokenRefused('INVALID_TOKEN', 'token kid must be a string')
    let pool: typeof verifiers
    if (kid !== undefined && jwks) {
      pool = verifiers.filter((v) => v.kid === kid)
      if (pool.length === 0) throw new TokenRefused('INVALID_TOKEN', 'token kid names no known key')
    } else {
      pool = verifiers.filter((v) => v.kid === undefined)
    }
    const t = now()
    return pool.filter((v) => v.algorithms.includes(alg as never) && (v.until === undefined || t < v.until))
  }

  /** The verified claims; throws TokenRefused. */
  return function verifyToken (token: string): Record<string, unknown> {
    let header: Record<string, unknown>
    try {
      header = decode(token).header
    } catch {
      throw new TokenRefused('INVALID_TOKEN', 'invalid token')
    }
    for (const v of candidates(header)) {
      try {
        return v.verify(token) as Record<string, unknown>
      } catch (err) {
        const code = (err as { code?: string }).code
        // Not this key: try the next one. Anything else comes after a good signature, so it is the answer.
        if (code === 'FAST_JWT_INVALID_SIGNATURE') continue
        if (code === 'FAST_JWT_EXPIRED') throw new TokenRefused('TOKEN_EXPIRED', 'token expired')
        if (code === 'FAST_JWT_INVALID_CLAIM_VALUE' || code === 'FAST_JWT_MISSING_REQUIRED_CLAIM' || code === 'FAST_JWT_INVALID_CLAIM_TYPE') {
          throw new TokenRefused('INVALID_TOKEN', `invalid token: ${(err as Error).message}`)
        }
        throw new TokenRefused('INVALID_TOKEN', 'invalid token')
      }
    }
    throw new TokenRefused('INVALID_TOKEN', 'invalid token')
  }
}

export interface SignerOptions {
  secret: string
  /** set as `iss` when the server checks issuers (the first accepted one) */
  issuer?: string
  /** set as `aud` when the server checks audiences (the first accepted one) */
  audience?: string
  /** sets `exp` = iat + this; otherwise the claims carry their own exp */
  expiresInSec?: number
}

/** fast-jwt signer options (as @fastify/jwt's `sign` option takes them) of the server's own tokens. */
export function serverSignOptions ({ issuer, audience }: { issuer?: string, audience?: string }): { algorithm: 'HS256', iss?: string, aud?: string } {
  return {
    algorithm: 'HS256',
    ...(issuer === undefined ? {} : { iss: issuer }),
    ...(audience === undefined ? {} : { aud: audience })
  }
}

/**
 * HS256 with the current secret: what this server and `npm run token` sign
 * with. The server signs through @fastify/jwt with serverSignOptions; this
 * signer is for code outside Fastify (the CLI), same options.
 */
export function createTokenSigner ({ secret, issuer, audience, expiresInSec }: SignerOptions): (claims: Record<string, unknown>) => string {
  return createSigner({
    key: secret,
    ...serverSignOptions({ issuer, audience }),
    ...(expiresInSec === undefined ? {} : { expiresIn: expiresInSec * 1000 })
  })
}
