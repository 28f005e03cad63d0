import type { FastifyPluginAsync, FastifyReply } from 'fastify'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import { Type } from 'typebox'
import {
  CANVAS_ID_PATTERN, canvasDetail, canvasSummary, etagMatches, lastChange, requireCanvas
} from '../../../src/canvas/admin.js'
import { createPngCache } from '../../../src/png.js'
import type { Canvas } from '../../../src/canvas/canvas.js'
import { HttpError } from '../../../src/http-error.js'

const CanvasId = Type.String({ pattern: CANVAS_ID_PATTERN, description: 'canvas id' })
const Coordinate = Type.Integer({ minimum: 0, maximum: 65535 })
const IdParams = Type.Object({ id: CanvasId })
const SnapshotQuery = Type.Object({
  seq: Type.Optional(Type.Integer({ minimum: 0, description: 'the canvas as it was at this seq (immutable); omitted: now' })),
  epoch: Type.Optional(Type.String({ minLength: 1, maxLength: 64, description: 'with seq: the epoch the seq belongs to (410 EPOCH_GONE when it is not the current one)' }))
})
/** A timelapse's default length: a few seconds at 250 ms a frame. */
const DEFAULT_FRAMES = 24
const PixelParams = Type.Object({ id: CanvasId, x: Coordinate, y: Coordinate })
const Summary = {
  id: Type.String(),
  width: Type.Integer(),
  height: Type.Integer(),
  seq: Type.Integer({ description: 'seq of the last committed change' })
}
const Detail = Type.Object({
  ...Summary,
  epoch: Type.String({ description: 'a seq means nothing under another epoch' }),
  createdAt: Type.Optional(Type.String({ format: 'date-time' })),
  frozen: Type.Boolean({ description: 'non-admin draws are refused (FROZEN)' }),
  palette: Type.Union([Type.Array(Type.String()), Type.Null()], { description: 'the only colours draws may use; null: any' })
})
const PixelChange = Type.Object({
  x: Type.Integer(),
  y: Type.Integer(),
  color: Type.String({ pattern: '^#[0-9a-f]{6}$' }),
  seq: Type.Integer({ description: 'the seq of this change' }),
  user: Type.String({ description: 'the JWT sub of who drew it (admin:<sub> for admin fills)' }),
  name: Type.String({ description: 'the display name of who drew it (the latest one stored for that sub); `user` when none was stored' }),
  at: Type.String({ format: 'date-time' })
})
const tags = ['canvases']

/** Public, read-only views of the canvases (contract §7). */
const canvasRoutes: FastifyPluginAsync = async function canvasRoutes (instance) {
  const fastify = instance.withTypeProvider<TypeBoxTypeProvider>()
  const pngs = createPngCache()

  fastify.get('/', {
    schema: { tags, summary: 'List the canvases', response: { 200: Type.Array(Type.Object(Summary)) } },
  }, function listCanvases () {
    return fastify.canvases.list().map(canvasSummary).sort((a, b) => a.id.localeCompare(b.id))
  })

  fastify.get('/:id', {
    schema: { tags, summary: 'One canvas', params: IdParams, response: { 200: Detail } },
  }, function getCanvas (request) {
    const canvas = requireCanvas(fastify.canvases, request.params.id)
    return canvasDetail(canvas, fastify.canvasStore.get(canvas.id)?.createdAt)
  })

  fastify.get('/:id/snapshot.png', {
    schema: {
      tags,
      summary: 'The committed canvas as a PNG (8-bit RGB)',
      description: 'Strong ETag "<epoch>-<seq>"; If-None-Match with it answers 304. With ?seq=N: the canvas as it was at seq N ' +
        '(immutable, cached for a year); 404 SEQ_NOT_REACHED beyond the current seq, 410 SEQ_NOT_KEPT before the oldest stored snapshot, ' +
        '410 EPOCH_GONE when ?epoch= is not the current epoch, 503 BUSY when too many are being built.',
      params: IdParams,
      querystring: SnapshotQuery
    },
    // A PNG costs a compression whenever the canvas changed: its own, lower limit.
    config: { rateLimit: fastify.restLimits.snapshot }
  }, async function snapshotPng (request, reply) {
    const canvas = requireCanvas(fastify.canvases, request.params.id)
    const { seq, epoch } = request.query
    if (seq !== undefined) return pastSnapshot(canvas, seq, epoch, request.headers['if-none-match'], reply)
    if (epoch !== undefined) throw new HttpError(400, 'BAD_REQUEST', 'epoch goes with seq')
    reply.header('cache-control', 'no-cache')
    const inm = request.headers['if-none-match']
    const current = `"${canvas.epoch}-${canvas.seq}"`
    if (etagMatches(inm, current)) return reply.code(304).header('etag', current).send()
    const entry = pngs.get(canvas)
    const etag = `"${entry.epoch}-${entry.seq}"`
    // An encode still running for an older seq: the client may hold exactly that.
    if (etagMatches(inm, etag)) return reply.code(304).header('etag', etag).send()
    const png = await entry.png
    return reply.header('etag', etag).type('image/png').send(png)
  })

  /** The canvas at a past seq: immutable, so a matching If-None-Match needs no work at all. */
  async function pastSnapshot (canvas: Canvas, seq: number, epoch: string | undefined, inm: string | undefined, reply: FastifyReply) {
    if (epoch !== undefined && epoch !== canvas.epoch) throw new HttpError(410, 'EPOCH_GONE', `canvas ${canvas.id} is under another epoch now`)
    const etag = `"${canvas.epoch}-${seq}"`
    reply.header('cache-control', 'public, max-age=31536000, immutable')
    if (seq <= canvas.seq && etagMatches(inm, etag)) return reply.code(304).header('etag', etag).send()
    const img = await fastify.timelapse.frame(canvas, seq)
    return reply.header('etag', img.etag).type('image/png').send(img.png)
  }

  fastify.get('/:id/timelapse', {
    schema: {
      tags,
      summary: 'The canvas\'s history as an animated PNG (APNG)',
      description: `Frames evenly spaced in seq from the oldest viewable seq to the current one, 250 ms each, looped. ?frames=1..${fastify.config.TIMELAPSE_MAX_FRAMES} ` +
        `(default ${DEFAULT_FRAMES}). Cached for TIMELAPSE_TTL_MS; ETag "<epoch>-<last seq>-<frames>". 413 TOO_LARGE over TIMELAPSE_MAX_BYTES, 503 BUSY when too many are being built.`,
      params: IdParams,
      querystring: Type.Object({
        frames: Type.Optional(Type.Integer({ minimum: 1, maximum: fastify.config.TIMELAPSE_MAX_FRAMES }))
      })
    },
    // Each one may cost many frames of work: its own, lowest limit.
    config: { rateLimit: fastify.restLimits.timelapse }
  }, async function timelapse (request, reply) {
    const canvas = requireCanvas(fastify.canvases, request.params.id)
    const frames = Math.min(request.query.frames ?? DEFAULT_FRAMES, fastify.config.TIMELAPSE_MAX_FRAMES)
    const img = await fastify.timelapse.timelapse(canvas, frames)
    reply.header('cache-control', `public, max-age=${Math.floor(fastify.config.TIMELAPSE_TTL_MS / 1000)}`).header('etag', img.etag)
    if (etagMatches(request.headers['if-none-match'], img.etag)) return reply.code(304).send()
    return reply.type('image/png').send(img.png)
  })

  fastify.get('/:id/pixels/:x/:y', {
    schema: {
      tags,
      summary: 'The last change of one pixel',
      description: 'A pixel never painted answers 404 NO_HISTORY (it is white, #ffffff).',
      params: PixelParams,
      response: { 200: PixelChange }
    },
  }, function pixelHistory (request) {
    const { id, x, y } = request.params
    return lastChange(requireCanvas(fastify.canvases, id), fastify.canvasStore.pixelAt, x, y)
  })
}

export default canvasRoutes
