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

/**
 * The token of a WebSocket handshake: `Authorization: Bearer`, else a
 * `bearer.<jwt>` subprotocol entry, else `?token=`.
 */
export function tokenFromHandshake (headers: Record<string, string | string[] | undefined>, queryToken: string | undefined): string | undefined {
  const auth = headers.authorization
  if (typeof auth === 'string') {
    const m = /^Bearer\s+(\S+)\s*$/i.exec(auth)
    if (m !== null) return m[1]
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
