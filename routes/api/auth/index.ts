import { randomBytes } from 'node:crypto'
import type { FastifyPluginAsync, FastifyRequest } from 'fastify'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import { Type } from 'typebox'
import { HttpError } from '../../../src/http-error.js'
import { GUEST_SUB_PREFIX, GUEST_TOKEN_TTL_SEC, isGuest } from '../../../src/auth/guest.js'
import { banMessage } from '../../../src/moderation/bans.js'
import { BEARER_CHALLENGE, bearerToken } from '../../../src/auth/principal.js'

export { GUEST_TOKEN_TTL_SEC }
export const GUEST_NAME_MAX = 32

// Printable: no control characters (C0, C1, DEL), no line or paragraph
// separators, no lone surrogates, no private use, and no invisible format
// characters (bidi overrides, zero-width spaces) except the zero-width
// joiner that emoji sequences need.
const UNPRINTABLE = /[\p{Cc}\p{Cs}\p{Co}\p{Zl}\p{Zp}]|(?!\u200d)\p{Cf}/u

const GuestBody = Type.Object({
  // Checked again after trimming (1 to 32 characters, code points).
  name: Type.String({ minLength: 1, maxLength: 256, description: `display name, 1 to ${GUEST_NAME_MAX} printable characters after trimming` })
})

/** A trimmed, printable display name, or a 400. */
export function guestName (raw: string): string {
  const name = raw.trim()
  const length = [...name].length
  if (length === 0 || length > GUEST_NAME_MAX) throw new HttpError(400, 'BAD_REQUEST', `name must be 1 to ${GUEST_NAME_MAX} characters`)
  if (UNPRINTABLE.test(name)) throw new HttpError(400, 'BAD_REQUEST', 'name must contain printable characters only')
  return name
}

/** Short-lived painter tokens for browser users without an account (contract §7). */
const authRoutes: FastifyPluginAsync = async function authRoutes (instance) {
  const fastify = instance.withTypeProvider<TypeBoxTypeProvider>()

  fastify.post('/guest', {
    schema: {
      tags: ['auth'],
      summary: 'A short-lived painter token',
      description: `JWT with sub "guest:<random>", the trimmed name, role painter, exp now + ${GUEST_TOKEN_TTL_SEC} s.`,
      body: GuestBody,
      response: { 200: Type.Object({ token: Type.String() }) }
    },
    // Per IP: enough for a household behind one NAT, not for a bot farm.
    config: { rateLimit: fastify.restLimits.guest }
  }, function guestToken (request) {
    const name = guestName(request.body.name)
    // A banned guest does not come back as a new one from the same address.
    const ban = fastify.bans.ofIp(request.ip)
    if (ban !== undefined) throw new HttpError(403, 'BANNED', `this address is ${banMessage(ban)}`)
    const sub = `${GUEST_SUB_PREFIX}${randomBytes(12).toString('base64url')}`
    return issue(request, sub, name, 'guest token issued')
  })

  fastify.post('/guest/renew', {
    schema: {
      tags: ['auth'],
      summary: 'A later guest token for the same guest',
      description: 'Authorization: Bearer <the current guest token, still valid>. The new token has the same sub and name and ' +
        `exp now + ${GUEST_TOKEN_TTL_SEC} s, so the guest's pixel budget and any ban follow it. Put it on an open socket with {"type":"auth"}.`,
      response: { 200: Type.Object({ token: Type.String() }) }
    },
    config: { rateLimit: fastify.restLimits.guest }
  }, function renewGuestToken (request) {
    const token = bearerToken(request.headers.authorization)
    if (token === undefined) throw new HttpError(401, 'TOKEN_REQUIRED', 'the current guest token is required (Authorization: Bearer)', { ...BEARER_CHALLENGE })
    const user = fastify.verifyToken(token)
    if (!isGuest(user.id)) throw new HttpError(403, 'FORBIDDEN', 'only guest tokens are renewed here; other tokens come from their issuer')
    const ban = fastify.bans.of(user.id)
    if (ban !== undefined) throw new HttpError(403, 'BANNED', banMessage(ban))
    return issue(request, user.id, user.name, 'guest token renewed')
  })

  /** Sign a guest token of `sub` and remember the address it went to (a ban of the guest then covers it). */
  function issue (request: FastifyRequest, sub: string, name: string, what: string): { token: string } {
    const exp = Math.floor(Date.now() / 1000) + GUEST_TOKEN_TTL_SEC
    fastify.bans.guestIssued(sub, request.ip)
    request.log.info({ user: sub }, what)
    return { token: fastify.signToken({ sub, name, role: 'painter', exp }) }
  }

  // The page asks this before opening /ws without a token, so a first visit
  // to a server that answers 401 to anonymous handshakes never makes one (a
  // refused WebSocket is an error in the browser's console and tells the
  // page nothing about why).
  const anonymous = fastify.config.ANONYMOUS
  fastify.get('/options', {
    schema: {
      tags: ['auth'],
      summary: 'What a client without a token may do',
      description: 'anonymous: "read" when /ws accepts clients without a token as viewers, else "off" (they get 401).',
      response: { 200: Type.Object({ anonymous: Type.Union([Type.Literal('off'), Type.Literal('read')]) }) }
    }
  }, function authOptions () {
    return { anonymous }
  })
}

export default authRoutes
