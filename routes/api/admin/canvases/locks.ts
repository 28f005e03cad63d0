import type { FastifyPluginAsync } from 'fastify'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import { Type } from 'typebox'
import { CANVAS_ID_PATTERN, rectOutOfBounds, requireCanvas } from '../../../../src/canvas/admin.js'
import { DomainError } from '../../../../src/domain-error.js'
import { lockView } from '../../../../src/moderation/locks.js'

const CanvasParams = Type.Object({ id: Type.String({ pattern: CANVAS_ID_PATTERN }) })
const Coord = Type.Integer({ minimum: 0, maximum: 65535 })
const Side = Type.Integer({ minimum: 1, maximum: 65535 })
const LockBody = Type.Object({ x: Coord, y: Coord, w: Side, h: Side, reason: Type.Optional(Type.String({ maxLength: 500 })) })
const LockSchema = Type.Object({
  id: Type.Integer(),
  canvas: Type.String(),
  x: Type.Integer(),
  y: Type.Integer(),
  w: Type.Integer(),
  h: Type.Integer(),
  reason: Type.Union([Type.String(), Type.Null()]),
  by: Type.String({ description: 'the admin who locked it' }),
  at: Type.String({ format: 'date-time' })
})
const common = { tags: ['admin'], security: [{ bearer: [] }] }

/** Region locks (contract §10): non-admin draws touching one are refused LOCKED. */
const lockRoutes: FastifyPluginAsync = async function lockRoutes (instance) {
  const fastify = instance.withTypeProvider<TypeBoxTypeProvider>()

  fastify.post('/:id/locks', {
    schema: { ...common, summary: 'Lock a region', params: CanvasParams, body: LockBody, response: { 201: LockSchema } },
    config: { rateLimit: fastify.restLimits.write }
  }, async function postLock (request, reply) {
    const canvas = requireCanvas(fastify.canvases, request.params.id)
    const { x, y, w, h, reason } = request.body
    const oob = rectOutOfBounds(canvas, x, y, w, h)
    if (oob !== null) throw new DomainError('invalid', 'OUT_OF_BOUNDS', oob)
    const lock = await fastify.locks.add(canvas.id, { x, y, w, h }, reason ?? null, request.admin?.id ?? 'unknown')
    request.log.info({ canvas: canvas.id, lock: lock.id, by: lock.by }, 'region locked')
    reply.code(201)
    return lockView(lock)
  })

  fastify.get('/:id/locks', {
    schema: { ...common, summary: 'The canvas\'s locks, oldest first', params: CanvasParams, response: { 200: Type.Array(LockSchema) } }
  }, function listLocks (request) {
    const canvas = requireCanvas(fastify.canvases, request.params.id)
    return fastify.locks.list(canvas.id).map(lockView)
  })

  fastify.delete('/:id/locks/:lockId', {
    schema: {
      ...common,
      summary: 'Lift a lock',
      params: Type.Object({ id: Type.String({ pattern: CANVAS_ID_PATTERN }), lockId: Type.Integer({ minimum: 1, maximum: Number.MAX_SAFE_INTEGER }) }),
      response: { 204: Type.Null() }
    },
    config: { rateLimit: fastify.restLimits.write }
  }, async function liftLock (request, reply) {
    const canvas = requireCanvas(fastify.canvases, request.params.id)
    await fastify.locks.remove(canvas.id, request.params.lockId)
    request.log.info({ canvas: canvas.id, lock: request.params.lockId, by: request.admin?.id }, 'lock lifted')
    return reply.code(204).send(null)
  })
}

export default lockRoutes
