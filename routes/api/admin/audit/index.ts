import type { FastifyPluginAsync } from 'fastify'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import { Type } from 'typebox'
import { auditView } from '../../../../src/moderation/audit.js'

const MAX_PAGE = 500

const Query = Type.Object({
  limit: Type.Integer({ minimum: 1, maximum: MAX_PAGE, default: 100, description: `entries per page (at most ${MAX_PAGE})` }),
  before: Type.Optional(Type.Integer({ minimum: 1, description: 'only entries with a smaller id (the previous page\'s `next`)' }))
})
const Entry = Type.Object({
  id: Type.Integer(),
  at: Type.String({ format: 'date-time' }),
  admin: Type.String({ description: 'the admin (JWT sub)' }),
  method: Type.String(),
  route: Type.String({ description: 'route pattern' }),
  url: Type.String({ description: 'path as requested, without the query' }),
  params: Type.Record(Type.String(), Type.Unknown()),
  body: Type.Union([Type.String(), Type.Null()], { description: 'the body as JSON, cut at AUDIT_BODY_BYTES' }),
  status: Type.Integer({ description: 'the HTTP status answered' })
})
const Page = Type.Object({
  entries: Type.Array(Entry),
  next: Type.Union([Type.Integer(), Type.Null()], { description: '`before` for the next (older) page; null: no more' })
})

/** The audit log of admin writes, newest first, paged by id (contract §10). */
const auditRoutes: FastifyPluginAsync = async function auditRoutes (instance) {
  const fastify = instance.withTypeProvider<TypeBoxTypeProvider>()
  fastify.get('/', {
    schema: { tags: ['admin'], security: [{ bearer: [] }], summary: 'Admin actions, newest first', querystring: Query, response: { 200: Page } }
  }, function listAudit (request) {
    const { limit, before } = request.query
    const entries = fastify.audit.page(limit, before)
    const last = entries[entries.length - 1]
    return { entries: entries.map(auditView), next: entries.length === limit && last !== undefined ? last.id : null }
  })
}

export default auditRoutes
