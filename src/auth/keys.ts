// The keys a token may be verified with, each with the algorithms it is
// pinned to by configuration. A token's header only *selects* among them
// (by `kid`, by `alg`); it never decides which algorithm a key is used with:
// the HS256 secrets verify HS256 only, a public key only the configured
// asymmetric algorithms its type can do. So an HS256 token "signed" with a
// public key as its HMAC secret finds no key that takes HS256 and that key.
import { createPublicKey, type JsonWebKey, type KeyObject } from 'node:crypto'
import { readFileSync } from 'node:fs'

export const ASYMMETRIC_ALGORITHMS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA'] as const
export type AsymmetricAlgorithm = typeof ASYMMETRIC_ALGORITHMS[number]
export type Algorithm = 'HS256' | AsymmetricAlgorithm

export interface VerificationKey {
  /** where it came from, for messages: JWT_SECRET, JWT_PREVIOUS_SECRET, JWT_PUBLIC_KEY_FILE, jwks:<kid> */
  source: string
  /** set for JWKS keys only: a token naming a kid is verified by that key alone */
  kid?: string
  /** the HMAC secret, or a public key as PEM */
  key: string
  algorithms: Algorithm[]
  /** ms since the epoch after which the key is no longer accepted (the previous secret) */
  until?: number
}

export interface KeyConfig {
  JWT_SECRET: string
  JWT_PREVIOUS_SECRET?: string
  /** ms since the epoch; required with JWT_PREVIOUS_SECRET (config.ts checks) */
  jwtPreviousUntil: number | null
  JWT_PUBLIC_KEY_FILE?: string
  JWT_JWKS_FILE?: string
  jwtAlgorithms: AsymmetricAlgorithm[]
}

const CURVES: Record<string, AsymmetricAlgorithm> = { prime256v1: 'ES256', secp384r1: 'ES384', secp521r1: 'ES512' }

/** The asymmetric algorithms a public key can verify, whatever is configured. */
function algorithmsOf (key: KeyObject): AsymmetricAlgorithm[] {
  switch (key.asymmetricKeyType) {
    case 'rsa': return ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512']
    case 'rsa-pss': return ['PS256', 'PS384', 'PS512']
    case 'ec': {
      const alg = CURVES[key.asymmetricKeyDetails?.namedCurve ?? '']
      return alg === undefined ? [] : [alg]
    }
    case 'ed25519': case 'ed448': return ['EdDSA']
    default: return []
  }
}

function describe (key: KeyObject): string {
  const curve = key.asymmetricKeyDetails?.namedCurve
  return `${key.asymmetricKeyType ?? 'unknown'}${curve === undefined ? '' : ` ${curve}`} key`
}

function readText (file: string, name: string): string {
  try {
    return readFileSync(file, 'utf8')
  } catch (err) {
    throw new Error(`${name}: cannot read ${file} (${(err as Error).message})`)
  }
}

/** JWT_PUBLIC_KEY_FILE: one PEM public key (or certificate), used for tokens without a kid. */
function pemKey (file: string, pinned: AsymmetricAlgorithm[]): VerificationKey {
  const text = readText(file, 'JWT_PUBLIC_KEY_FILE')
  let key: KeyObject
  try {
    key = createPublicKey(text)
  } catch (err) {
    throw new Error(`JWT_PUBLIC_KEY_FILE: ${(err as Error).message}`)
  }
  const algorithms = algorithmsOf(key).filter((a) => pinned.includes(a))
  if (algorithms.length === 0) {
    throw new Error(`JWT_PUBLIC_KEY_FILE is an ${describe(key)}: JWT_ALGORITHMS (${pinned.join(',')}) allows none of ${algorithmsOf(key).join(',') || 'its algorithms'}`)
  }
  return { source: 'JWT_PUBLIC_KEY_FILE', key: key.export({ type: 'spki', format: 'pem' }).toString(), algorithms }
}

/**
 * JWT_JWKS_FILE: `{"keys":[...]}`; every signing key needs a unique `kid`.
 * A key whose `alg` (or, without one, whose type) allows none of
 * JWT_ALGORITHMS is left out and named in `skipped`; symmetric (`oct`) keys
 * are refused: a JWKS holds public keys.
 */
function jwksKeys (file: string, pinned: AsymmetricAlgorithm[]): { keys: VerificationKey[], skipped: string[] } {
  const text = readText(file, 'JWT_JWKS_FILE')
  let doc: unknown
  try {
    doc = JSON.parse(text)
  } catch (err) {
    throw new Error(`JWT_JWKS_FILE: ${(err as Error).message}`)
  }
  const list = (doc as { keys?: unknown })?.keys
  if (!Array.isArray(list)) throw new Error('JWT_JWKS_FILE: expected a JSON object with a "keys" array')
  const keys: VerificationKey[] = []
  const skipped: string[] = []
  for (const [i, jwk] of (list as JsonWebKey[]).entries()) {
    const kid = jwk.kid as unknown
    if (typeof kid !== 'string' || kid === '') throw new Error(`JWT_JWKS_FILE: key #${i} has no "kid"`)
    if (keys.some((k) => k.kid === kid) || skipped.includes(kid)) throw new Error(`JWT_JWKS_FILE: kid ${kid} appears twice`)
    if (jwk.use !== undefined && jwk.use !== 'sig') { skipped.push(kid); continue }
    if (jwk.kty === 'oct') throw new Error(`JWT_JWKS_FILE: key ${kid} is symmetric (kty oct); HMAC secrets belong in JWT_SECRET`)
    let key: KeyObject
    try {
      key = createPublicKey({ key: jwk, format: 'jwk' })
    } catch (err) {
      throw new Error(`JWT_JWKS_FILE: key ${kid}: ${(err as Error).message}`)
    }
    const able = algorithmsOf(key).filter((a) => pinned.includes(a))
    const algorithms = typeof jwk.alg === 'string' ? able.filter((a) => a === jwk.alg) : able
    if (algorithms.length === 0) { skipped.push(kid); continue }
    keys.push({ source: `jwks:${kid}`, kid, key: key.export({ type: 'spki', format: 'pem' }).toString(), algorithms })
  }
  if (keys.length === 0) throw new Error(`JWT_JWKS_FILE: no key usable with JWT_ALGORITHMS (${pinned.join(',')})`)
  return { keys, skipped }
}

/** Every key of the configuration, secrets first (the common case costs one HMAC). */
export function loadVerificationKeys (c: KeyConfig): { keys: VerificationKey[], skipped: string[] } {
  const keys: VerificationKey[] = [{ source: 'JWT_SECRET', key: c.JWT_SECRET, algorithms: ['HS256'] }]
  if (c.JWT_PREVIOUS_SECRET !== undefined && c.jwtPreviousUntil !== null) {
    keys.push({ source: 'JWT_PREVIOUS_SECRET', key: c.JWT_PREVIOUS_SECRET, algorithms: ['HS256'], until: c.jwtPreviousUntil })
  }
  if (c.JWT_PUBLIC_KEY_FILE !== undefined) keys.push(pemKey(c.JWT_PUBLIC_KEY_FILE, c.jwtAlgorithms))
  let skipped: string[] = []
  if (c.JWT_JWKS_FILE !== undefined) {
    const jwks = jwksKeys(c.JWT_JWKS_FILE, c.jwtAlgorithms)
    keys.push(...jwks.keys)
    skipped = jwks.skipped
  }
  return { keys, skipped }
}
