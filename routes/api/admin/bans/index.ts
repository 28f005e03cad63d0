import type { FastifyPluginAsync } from 'fastify'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import { Type } from 'typebox'
import { userTopic } from '../../../../src/broker/broker.js'
import { banView } from '../../../../src/moderation/bans.js'

/** Ten years: "seconds" beyond that is a typo; no `seconds` at all bans until lifted. */
const MAX_BAN_SEC = 10 * 365 * 86400

const User = Type.String({ minLength: 1, maxLength: 128, description: 'the user (JWT sub)' })
const BanBody = Type.Object({
  user: User,
  seconds: Type.Optional(Type.Integer({ minimum: 1, maximum: MAX_BAN_SEC, description: 'how long; absent: until lifted' })),
  reason: Type.Optional(Type.String({ maxLength: 500 }))
})
const Nullable = <T extends ReturnType<typeof Type.String>>(t: T) => Type.Union([t, Type.Null()])
const BanSchema = Type.Object({
  user: Type.String(),
  reason: Nullable(Type.String()),
  by: Type.String({ description: 'the admin who banned' }),
  at: Type.String({ format: 'date-time' }),
  until: Nullable(Type.String({ format: 'date-time', description: 'null: until lifted' })),
  ip: Nullable(Type.String({ description: 'a guest\'s address, refused new guest tokens while the ban lasts' }))
})
const common = { tags: ['admin'], security: [{ bearer: [] }] }

/** Bans (contract §10): the user's connections close with 4403, their tokens and handshakes are refused. */
const banRoutes: FastifyPluginAsync = async function banRoutes (instance) {
  const fastify = instance.withTypeProvider<TypeBoxTypeProvider>()

  fastify.post('/', {
    schema: { ...common, summary: 'Ban a user; replaces a ban it has', body: BanBody, response: { 201: BanSchema } },
    config: { rateLimit: fastify.restLimits.write }
  }, function postBan (request, reply) {
    const by = request.admin?.id ?? 'unknown'
    // A guest's address, when its token issuance was not recorded: its connections on this node.
    const ban = fastify.bans.ban(request.body, by, localIps(request.body.user))
    request.log.info({ user: ban.user, until: ban.until, by }, 'user banned')
    reply.code(201)
    return banView(ban)
  })

  fastify.get('/', {
    schema: { ...common, summary: 'Active bans, oldest first', response: { 200: Type.Array(BanSchema) } }
  }, function listBans () {
    return fastify.bans.list().map(banView)
  })

  fastify.delete('/:user', {
    schema: { ...common, summary: 'Lift a ban', params: Type.Object({ user: User }), response: { 204: Type.Null() } },
    config: { rateLimit: fastify.restLimits.write }
  }, function liftBan (request, reply) {
    fastify.bans.lift(request.params.user)
    request.log.info({ user: request.params.user, by: request.admin?.id }, 'ban lifted')
    reply.code(204).send(null)
  })

  /** The addresses of the user's connections on this node (the hub's one loop over a topic). */
  function localIps (user: string): string[] {
    const out: string[] = []
    fastify.hub.deliver(userTopic(user), null, { sendTo: (conn) => { out.push(conn.ip); return true } })
    return out
  }
}

export default banRoutes
