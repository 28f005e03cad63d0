import type { FastifyPluginAsync } from 'fastify'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import { Type } from 'typebox'
import { CANVAS_ID_PATTERN } from '../../../../src/canvas/admin.js'
import { revert } from '../../../../src/moderation/revert.js'

const Coord = Type.Integer({ minimum: 0, maximum: 65535 })
const Side = Type.Integer({ minimum: 1, maximum: 65535 })
const RegionSchema = Type.Object({ x: Coord, y: Coord, w: Side, h: Side })
const RevertBody = Type.Object({
  user: Type.String({ minLength: 1, maxLength: 128, description: 'whose pixels (JWT sub)' }),
  since: Type.Optional(Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER, description: 'only changes after this seq' })),
  region: Type.Optional(RegionSchema)
})

/** Revert a user's pixels (contract §10). */
const revertRoutes: FastifyPluginAsync = async function revertRoutes (instance) {
  const fastify = instance.withTypeProvider<TypeBoxTypeProvider>()
  fastify.post('/:id/revert', {
    schema: {
      tags: ['admin'],
      security: [{ bearer: [] }],
      summary: 'Give every pixel the user set back the colour it had before; committed at once as new changes',
      params: Type.Object({ id: Type.String({ pattern: CANVAS_ID_PATTERN }) }),
      body: RevertBody,
      response: { 200: Type.Object({ reverted: Type.Integer({ description: 'pixels changed' }), seq: Type.Integer({ description: 'the canvas seq after the last of them' }) }) }
    },
    config: { rateLimit: fastify.restLimits.write }
  }, async function revertUser (request) {
    const by = `admin:${request.admin?.id ?? 'unknown'}`
    const { REVERT_MAX_CHANGES: maxChanges, REVERT_SCAN_SLICE: sliceRows, REVERT_MAX_SCAN: maxScan } = fastify.config
    const deps = { canvases: fastify.canvases, store: fastify.canvasStore, maxChanges, sliceRows, maxScan }
    const res = await revert(deps, request.params.id, request.body, by)
    request.log.info({ canvas: request.params.id, user: request.body.user, ...res, by }, 'user reverted')
    return res
  })
}

export default revertRoutes
