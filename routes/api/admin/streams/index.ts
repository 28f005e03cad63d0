import type { FastifyPluginAsync } from 'fastify'
import { Type } from 'typebox'

const StreamSchema = Type.Object({
  stream: Type.String(),
  subscribers: Type.Integer(),
  offset: Type.Integer({ description: 'the latest offset' }),
  held: Type.Integer({ description: 'messages kept for since replays' })
})

/** The streams held in memory, with subscriber counts (contract §7). */
const streamRoutes: FastifyPluginAsync = async function streamRoutes (fastify) {
  fastify.get('/', {
    schema: { tags: ['admin'], security: [{ bearer: [] }], summary: 'Streams with subscriber counts', response: { 200: Type.Array(StreamSchema) } },
  }, function listStreams () {
    return fastify.streams.list()
  })
}

export default streamRoutes
