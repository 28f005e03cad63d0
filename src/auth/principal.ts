// From verified JWT claims to the Principal a connection carries. The
// signature, algorithm and exp were already checked by the verifier; this
// checks the shape of what we rely on.
import type { Principal } from '../connection/connection.js'
import { DEFAULT_ROLE, isRole } from '../protocol/wire.js'

export type PrincipalResult = { ok: true, principal: Principal } | { ok: false, message: string }

export function principalFromClaims (claims: Record<string, unknown>): PrincipalResult {
  const { sub, name, role = DEFAULT_ROLE, exp } = claims
  if (typeof sub !== 'string' || sub.length === 0 || sub.length > 128) return { ok: false, message: 'token sub must be a string of 1 to 128 characters' }
  if (typeof exp !== 'number' || !Number.isFinite(exp)) return { ok: false, message: 'token exp must be a number' }
  if (!isRole(role)) return { ok: false, message: 'token role must be viewer, painter or admin' }
  if (name !== undefined && (typeof name !== 'string' || name.length > 64)) return { ok: false, message: 'token name must be a string of at most 64 characters' }
  const display = typeof name === 'string' && name.trim() !== '' ? name.trim() : sub
  return { ok: true, principal: { id: sub, name: display, role, exp } }
}

const BEARER = /^Bearer\s+(\S+)\s*$/i

/** The token of an `Authorization: Bearer <jwt>` header, or undefined. */
export function bearerToken (header: string | undefined): string | undefined {
  return header === undefined ? undefined : BEARER.exec(header)?.[1]
}

/** RFC 6750: a 401 for a missing or bad bearer token names the scheme it wants. */
export const BEARER_CHALLENGE = Object.freeze({ 'www-authenticate': 'Bearer' })

/**
 * The token of a WebSocket handshake: `Authorization: Bearer`, else a
 * `bearer.<jwt>` subprotocol entry, else `?token=`.
 */
export function tokenFromHandshake (headers: Record<string, string | string[] | undefined>, queryToken: string | undefined): string | undefined {
  const auth = headers.authorization
  if (typeof auth === 'string') {
    const t = bearerToken(auth)
    if (t !== undefined) return t
  }
  const protocols = headers['sec-websocket-protocol']
  if (typeof protocols === 'string') {
    for (const p of protocols.split(',')) {
      const entry = p.trim()
      if (entry.startsWith('bearer.') && entry.length > 7) return entry.slice(7)
    }
  }
  return queryToken !== undefined && queryToken !== '' ? queryToken : undefined
}
