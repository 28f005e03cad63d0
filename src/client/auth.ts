// Where the browser's token comes from: the URL fragment (#token=, read once
// and removed from the address bar; never sent to the server in a URL), a
// guest name (POST /api/auth/guest), or a pasted JWT. Kept in storage so a
// reload stays signed in.

const LOCAL_KEY = 'pixelwire.token'
const GUEST_KEY = 'pixelwire.guest'
const SESSION_KEY = 'pixelwire.kiosk-token'

export interface Claims { sub: string, name?: string, role?: string, exp: number, iat?: number }

/** The payload of a JWT, unverified (the server verifies): for its name, role and exp. */
export function decodeClaims (token: string): Claims | null {
  const parts = token.trim().split('.')
  if (parts.length !== 3) return null
  try {
    const b64 = parts[1].replace(/-/g, '+').replace(/_/g, '/')
    const json = decodeURIComponent(Array.from(atob(b64), (c) => '%' + c.charCodeAt(0).toString(16).padStart(2, '0')).join(''))
    const claims = JSON.parse(json) as Partial<Claims>
    if (typeof claims.sub !== 'string' || typeof claims.exp !== 'number') return null
    return claims as Claims
  } catch {
    return null
  }
}

export function expired (claims: Claims, marginSec = 5): boolean {
  return claims.exp <= Date.now() / 1000 + marginSec
}

/** `#token=...&canvas=...` parameters; the token is removed from the address bar. */
export function readFragment (): { token?: string, canvas?: string } {
  const params = new URLSearchParams(location.hash.replace(/^#/, ''))
  const token = params.get('token') ?? undefined
  const canvas = params.get('canvas') ?? undefined
  if (token !== undefined) {
    params.delete('token')
    const rest = params.toString()
    history.replaceState(null, '', location.pathname + location.search + (rest === '' ? '' : '#' + rest))
    sessionStorage.setItem(SESSION_KEY, token)
  }
  return { token, canvas }
}

/** The best token we hold that has not expired, or null. */
export function storedToken (): string | null {
  for (const t of [sessionStorage.getItem(SESSION_KEY), localStorage.getItem(LOCAL_KEY)]) {
    if (t === null) continue
    const claims = decodeClaims(t)
    if (claims !== null && !expired(claims)) return t
  }
  return null
}

export function remember (token: string, guestName?: string): void {
  sessionStorage.removeItem(SESSION_KEY)
  localStorage.setItem(LOCAL_KEY, token)
  if (guestName === undefined) localStorage.removeItem(GUEST_KEY)
  else localStorage.setItem(GUEST_KEY, guestName)
}

export function forget (): void {
  sessionStorage.removeItem(SESSION_KEY)
  localStorage.removeItem(LOCAL_KEY)
  localStorage.removeItem(GUEST_KEY)
}

/** The guest name this browser signed in with, to renew an expired guest token. */
export function guestName (): string | null {
  return localStorage.getItem(GUEST_KEY)
}

/** POST /api/auth/guest; throws an Error whose message is fit to show. */
export async function guestToken (name: string): Promise<string> {
  let res: Response
  try {
    res = await fetch('/api/auth/guest', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name })
    })
  } catch {
    throw new Error('Cannot reach the server to sign in.')
  }
  const body = await res.json().catch(() => ({})) as { token?: string, message?: string }
  if (res.ok && typeof body.token === 'string') return body.token
  if (res.status === 429) {
    const after = res.headers.get('retry-after')
    throw new Error(`Too many guest sign-ins from this address${after === null ? '' : `; try again in ${after} s`}.`)
  }
  throw new Error(body.message !== undefined ? `Sign-in refused: ${body.message}` : `Sign-in failed (HTTP ${res.status}).`)
}

/**
 * When to renew a guest token: five minutes before `exp`, or halfway
 * through a shorter life; null for tokens that are not the server's guests.
 */
export function renewDelayMs (claims: Claims, now = Date.now()): number | null {
  if (!claims.sub.startsWith('guest:')) return null
  const life = claims.iat === undefined ? 3600 : claims.exp - claims.iat
  return Math.max(0, (claims.exp - Math.min(300, life / 2)) * 1000 - now)
}

/** POST /api/auth/guest/renew: the same guest, a later `exp`; throws when the server will not. */
export async function renewGuest (token: string): Promise<string> {
  const res = await fetch('/api/auth/guest/renew', { method: 'POST', headers: { authorization: `Bearer ${token}` } })
  const body = await res.json().catch(() => ({})) as { token?: string, message?: string }
  if (res.ok && typeof body.token === 'string') return body.token
  throw new Error(body.message ?? `renewal refused (HTTP ${res.status})`)
}
