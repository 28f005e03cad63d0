import type { FastifyPluginAsync } from 'fastify'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import { Type } from 'typebox'
import { CANVAS_ID_PATTERN, requireCanvas } from '../../../../src/canvas/admin.js'
import { canvasTopic, userTopic } from '../../../../src/broker/broker.js'
import { HttpError } from '../../../../src/http-error.js'

/** largest `data`, as JSON */
export const MAX_BROADCAST_BYTES = 64 * 1024

const Body = Type.Object({
  stream: Type.Optional(Type.String({ minLength: 1, maxLength: 128, description: 'a stream, namespace:name' })),
  canvas: Type.Optional(Type.String({ pattern: CANVAS_ID_PATTERN, description: 'every client on this canvas' })),
  user: Type.Optional(Type.String({ minLength: 1, maxLength: 128, description: 'every connection of this user (JWT sub)' })),
  data: Type.Unknown({ description: `any JSON, at most ${MAX_BROADCAST_BYTES} bytes` })
}, { description: 'exactly one of stream, canvas, user' })
const Delivered = Type.Object({
  delivered: Type.Integer({ description: 'sends that were queued (a connection over its send buffer is skipped), summed over every node that answered in time (cluster mode)' }),
  offset: Type.Optional(Type.Integer({ description: 'the stream offset of the message (stream broadcasts)' }))
})

/**
 * One message to a stream's subscribers (as a stream `message`), or to a
 * canvas's clients or a user's connections (as `{"type":"broadcast",...}`):
 * published to the broker on the stream's, canvas's or user's topic, and
 * serialized once by the fan-out (contract §7). Like stream messages, a
 * broadcast may use twice the send buffer.
 */
const broadcastRoutes: FastifyPluginAsync = async function broadcastRoutes (instance) {
  const fastify = instance.withTypeProvider<TypeBoxTypeProvider>()

  fastify.post('/', {
    schema: { tags: ['admin'], security: [{ bearer: [] }], summary: 'Deliver a message', body: Body, response: { 200: Delivered } },
    // The body may hold `data` up to the cap plus the envelope; beyond is 413 before parsing.
    bodyLimit: 2 * MAX_BROADCAST_BYTES,
    config: { rateLimit: fastify.restLimits.write }
  }, async function broadcast (request) {
    const { stream, canvas, user, data } = request.body
    const targets = [stream, canvas, user].filter((t) => t !== undefined).length
    if (targets !== 1) throw new HttpError(400, 'BAD_REQUEST', 'give exactly one of stream, canvas, user')
    const bytes = Buffer.byteLength(JSON.stringify(data) ?? '')
    if (bytes > MAX_BROADCAST_BYTES) throw new HttpError(413, 'TOO_LARGE', `data is ${bytes} bytes of JSON, at most ${MAX_BROADCAST_BYTES}`)
    request.log.info({ stream, canvas, user, bytes, by: request.admin?.id }, 'admin broadcast')

    if (stream !== undefined) {
      const res = fastify.streams.publishAsAdmin(stream, data)
      if ('code' in res) throw new HttpError(res.code === 'UNKNOWN_STREAM' ? 404 : 400, res.code, res.message)
      return await res
    }
    if (canvas !== undefined) {
      requireCanvas(fastify.canvases, canvas)
      return { delivered: (await fastify.broker.deliver(canvasTopic(canvas), { type: 'broadcast', canvas, data })).delivered }
    }
    // Every connection is subscribed to its user's topic: a delivery, not a scan (on every node in cluster mode).
    return { delivered: (await fastify.broker.deliver(userTopic(user as string), { type: 'broadcast', user, data })).delivered }
  })
}

export default broadcastRoutes
