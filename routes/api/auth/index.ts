import { randomBytes } from 'node:crypto'
import type { FastifyPluginAsync } from 'fastify'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import { Type } from 'typebox'
import { HttpError } from '../../../src/http-error.js'
import { GUEST_SUB_PREFIX } from '../../../src/auth/guest.js'

/**
 * Lifetime of a guest token. There is no configuration key for it (yet):
 * one hour, after which the browser asks for a new one (or replaces it on
 * the socket with an `auth` message before `exp`).
 */
export const GUEST_TOKEN_TTL_SEC = 3600
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
    const sub = `${GUEST_SUB_PREFIX}${randomBytes(12).toString('base64url')}`
    const exp = Math.floor(Date.now() / 1000) + GUEST_TOKEN_TTL_SEC
    request.log.info({ user: sub }, 'guest token issued')
    return { token: fastify.signToken({ sub, name, role: 'painter', exp }) }
  })
}

export default authRoutes
