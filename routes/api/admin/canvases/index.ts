import type { FastifyPluginAsync } from 'fastify'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import { Type } from 'typebox'
import {
  CANVAS_ID_PATTERN, HEX_COLOR_PATTERN, addCanvas, canvasDetail, fillRect, fromHexColor, parsePalette, requireCanvas
} from '../../../../src/canvas/admin.js'
import revertRoutes from './revert.js'
import lockRoutes from './locks.js'

export const MAX_CANVAS_SIDE = 4096

const CanvasId = Type.String({ pattern: CANVAS_ID_PATTERN })
const Side = Type.Integer({ minimum: 1, maximum: MAX_CANVAS_SIDE })
/** Bounded by MAX_PALETTE_COLORS (checked in the handler: the schema is built before the config is read). */
const Palette = Type.Array(Type.String({ pattern: HEX_COLOR_PATTERN }), { minItems: 1, maxItems: 4096, description: 'the only colours draws may use, "#rrggbb"' })
const NewCanvas = Type.Object({ id: CanvasId, width: Side, height: Side, palette: Type.Optional(Palette) })
const CanvasPatch = Type.Object({
  frozen: Type.Optional(Type.Boolean({ description: 'refuse every non-admin draw (FROZEN)' })),
  // One schema typed [array, null], not an anyOf with a null branch: Ajv's
  // coercion would turn a wrong 0, "" or false into null (palette dropped).
  palette: Type.Optional(Type.Unsafe<string[] | null>({ ...Palette, type: ['array', 'null'], description: 'null: any colour' }))
}, { minProperties: 1, additionalProperties: false })
const IdParams = Type.Object({ id: CanvasId })
const CanvasSchema = Type.Object({
  id: Type.String(),
  width: Type.Integer(),
  height: Type.Integer(),
  seq: Type.Integer(),
  epoch: Type.String(),
  createdAt: Type.Optional(Type.String({ format: 'date-time' })),
  frozen: Type.Boolean(),
  palette: Type.Union([Type.Array(Type.String()), Type.Null()])
})
const Fill = Type.Object({
  x: Type.Integer({ minimum: 0, maximum: 65535 }),
  y: Type.Integer({ minimum: 0, maximum: 65535 }),
  w: Type.Integer({ minimum: 1, maximum: 65535 }),
  h: Type.Integer({ minimum: 1, maximum: 65535 }),
  color: Type.String({ pattern: HEX_COLOR_PATTERN, description: '#rrggbb' })
})
const common = { tags: ['admin'], security: [{ bearer: [] }] }

/** Creating canvases and filling regions of them (contract §7); freeze, palette, reset, delete (§10). */
const adminCanvasRoutes: FastifyPluginAsync = async function adminCanvasRoutes (instance) {
  const fastify = instance.withTypeProvider<TypeBoxTypeProvider>()
  // Moderation routes of a canvas live beside this file (autoload loads only index.ts of a folder).
  await fastify.register(revertRoutes)
  await fastify.register(lockRoutes)

  fastify.post('/', {
    schema: { ...common, summary: 'Create a white canvas', body: NewCanvas, response: { 201: CanvasSchema } },
    config: { rateLimit: fastify.restLimits.write }
  }, async function postCanvas (request, reply) {
    const { id, width, height } = request.body
    const palette = request.body.palette === undefined ? null : parsePalette(request.body.palette, fastify.config.MAX_PALETTE_COLORS)
    // Cluster mode: created in Redis first, then served by every node.
    const canvas = await addCanvas(fastify.canvases, id, width, height, palette)
    // An id used before: its old canvas's locks went with its rows (ON DELETE
    // CASCADE, at the end of the purge); every node drops its copy now that
    // the canvas's topic is subscribed again. (Cluster: cleared at the delete.)
    fastify.locks.refresh(id)
    request.log.info({ canvas: id, by: request.admin?.id }, 'admin created a canvas')
    reply.code(201).header('location', `/api/canvases/${id}`)
    return canvasDetail(canvas, fastify.canvasStore.get(id)?.createdAt)
  })

  fastify.patch('/:id', {
    schema: {
      ...common,
      summary: 'Freeze or unfreeze a canvas, set or drop its palette; its clients get a canvas message',
      params: IdParams,
      body: CanvasPatch,
      response: { 200: CanvasSchema }
    },
    config: { rateLimit: fastify.restLimits.write }
  }, async function patchCanvas (request) {
    const { id } = request.params
    const { frozen, palette } = request.body
    // Validated whole before anything changes: a bad palette leaves frozen as it was too.
    const colors = palette === undefined || palette === null ? palette : parsePalette(palette, fastify.config.MAX_PALETTE_COLORS)
    const canvas = requireCanvas(fastify.canvases, id)
    await fastify.canvases.update(id, { frozen, palette: colors })
    request.log.info({ canvas: id, frozen, palette: colors === undefined ? undefined : colors?.length ?? null, by: request.admin?.id }, 'admin changed a canvas')
    return canvasDetail(canvas, fastify.canvasStore.get(id)?.createdAt)
  })

  fastify.post('/:id/reset', {
    schema: {
      ...common,
      summary: 'Blank the canvas under a new epoch; every client is resynced (canvas message, then SNAPSHOT)',
      params: IdParams,
      response: { 200: CanvasSchema }
    },
    config: { rateLimit: fastify.restLimits.write }
  }, async function resetCanvas (request) {
    const { id } = request.params
    const { epoch, seq } = await fastify.canvases.reset(id)
    request.log.info({ canvas: id, epoch, seq, by: request.admin?.id }, 'admin reset a canvas')
    return canvasDetail(requireCanvas(fastify.canvases, id), fastify.canvasStore.get(id)?.createdAt)
  })

  fastify.delete('/:id', {
    schema: {
      ...common,
      summary: 'Delete a canvas with its history; its clients are closed with 4404 (main: 409)',
      params: IdParams,
      response: { 204: Type.Null() }
    },
    config: { rateLimit: fastify.restLimits.write }
  }, async function deleteCanvas (request, reply) {
    const { id } = request.params
    await fastify.canvases.remove(id)
    // Cluster mode: the canvas's locks live in Redis, not in its rows: cleared on every node.
    if (fastify.cluster !== null) await fastify.locks.clear(id)
    request.log.info({ canvas: id, by: request.admin?.id }, 'admin deleted a canvas')
    return reply.code(204).send(null)
  })

  fastify.post('/:id/fill', {
    schema: {
      ...common,
      summary: 'Fill a rectangle; committed and broadcast at the next tick like any change',
      params: IdParams,
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
