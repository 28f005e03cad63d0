import type { FastifyPluginAsync } from 'fastify'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import { Type } from 'typebox'
import {
  CANVAS_ID_PATTERN, HEX_COLOR_PATTERN, canvasDetail, canvasOr404, fromHexColor, rectOutOfBounds
} from '../../../../src/canvas/admin.js'
import { HttpError } from '../../../../src/http-error.js'

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

  fastify.post('/', {
    schema: { ...common, summary: 'Create a white canvas', body: NewCanvas, response: { 201: CanvasSchema } },
    config: { rateLimit: fastify.restLimits.write }
  }, function createCanvas (request, reply) {
    const { id, width, height } = request.body
    if (fastify.canvases.get(id) !== undefined) throw new HttpError(409, 'CANVAS_EXISTS', `canvas ${id} exists`)
    const canvas = fastify.canvases.create(id, width, height)
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
    const canvas = canvasOr404(fastify.canvases, request.params.id)
    const { x, y, w, h, color } = request.body
    const oob = rectOutOfBounds(canvas, x, y, w, h)
    if (oob !== null) throw new HttpError(400, 'OUT_OF_BOUNDS', oob)
    // More than one tick's batch can ever hold: retrying would never help.
    const max = fastify.config.MAX_PENDING_PIXELS
    if (w * h > max) throw new HttpError(413, 'TOO_LARGE', `fill of ${w * h} pixels exceeds the batch of ${max}; split it`)
    const admin = request.admin?.id ?? 'unknown'
    const err = fastify.canvases.draw(canvas, { kind: 'rect', x, y, w, h, color: fromHexColor(color) }, `admin:${admin}`, 0)
    if (err !== null) {
      const retryAfter = String(Math.max(1, Math.ceil((err.retryAfterMs ?? 1000) / 1000)))
      throw new HttpError(503, err.code, err.message, { 'retry-after': retryAfter })
    }
    request.log.info({ canvas: canvas.id, x, y, w, h, by: admin }, 'admin fill queued')
    reply.code(202)
    return { queued: w * h }
  })
}

export default adminCanvasRoutes
