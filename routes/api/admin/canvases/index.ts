import type { FastifyPluginAsync } from 'fastify'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import { Type } from 'typebox'
import {
  CANVAS_ID_PATTERN, HEX_COLOR_PATTERN, canvasDetail, createCanvas, fillRect, fromHexColor
} from '../../../../src/canvas/admin.js'
import revertRoutes from './revert.js'
import lockRoutes from './locks.js'

export const MAX_CANVAS_SIDE = 4096

const CanvasId = Type.String({ pattern: CANVAS_ID_PATTERN })
const Side = Type.Integer({ minimum: 1, maximum: MAX_CANVAS_SIDE })
const NewCanvas = Type.Object({ id: CanvasId, width: Side, height: Side })
const CanvasSchema = Type.Object({
  id: Type.String(),
  width: Type.Integer(),
  height: Type.Integer(),
  seq: Type.Integer(),
  epoch: Type.String(),
  createdAt: Type.Optional(Type.String({ format: 'date-time' }))
})
const Fill = Type.Object({
  x: Type.Integer({ minimum: 0, maximum: 65535 }),
  y: Type.Integer({ minimum: 0, maximum: 65535 }),
  w: Type.Integer({ minimum: 1, maximum: 65535 }),
  h: Type.Integer({ minimum: 1, maximum: 65535 }),
  color: Type.String({ pattern: HEX_COLOR_PATTERN, description: '#rrggbb' })
})
const common = { tags: ['admin'], security: [{ bearer: [] }] }

/** Creating canvases and filling regions of them (contract §7). */
const adminCanvasRoutes: FastifyPluginAsync = async function adminCanvasRoutes (instance) {
  const fastify = instance.withTypeProvider<TypeBoxTypeProvider>()
  // Moderation routes of a canvas live beside this file (autoload loads only index.ts of a folder).
  await fastify.register(revertRoutes)
  await fastify.register(lockRoutes)

  fastify.post('/', {
    schema: { ...common, summary: 'Create a white canvas', body: NewCanvas, response: { 201: CanvasSchema } },
    config: { rateLimit: fastify.restLimits.write }
  }, function postCanvas (request, reply) {
    const { id, width, height } = request.body
    const canvas = createCanvas(fastify.canvases, id, width, height)
    request.log.info({ canvas: id, by: request.admin?.id }, 'admin created a canvas')
    reply.code(201).header('location', `/api/canvases/${id}`)
    return canvasDetail(canvas, fastify.canvasStore.get(id)?.createdAt)
  })

  fastify.post('/:id/fill', {
    schema: {
      ...common,
      summary: 'Fill a rectangle; committed and broadcast at the next tick like any change',
      params: Type.Object({ id: CanvasId }),
      body: Fill,
      response: { 202: Type.Object({ queued: Type.Integer({ description: 'pixels queued' }) }) }
    },
    config: { rateLimit: fastify.restLimits.write }
  }, function fillCanvas (request, reply) {
    const { id } = request.params
    const { color, ...rect } = request.body
    const admin = request.admin?.id ?? 'unknown'
    const queued = fillRect(fastify.canvases, id, { ...rect, color: fromHexColor(color) }, `admin:${admin}`, fastify.config.MAX_PENDING_PIXELS)
    request.log.info({ canvas: id, ...rect, by: admin }, 'admin fill queued')
    reply.code(202)
    return { queued }
  })
}

export default adminCanvasRoutes
