// Baseline (a): the code most people write. @fastify/websocket, and every
// PIXEL message broadcast to every client as it arrives, as in the plugin's
// README (`fastify.websocketServer.clients.forEach(... client.send(message))`).
import Fastify from 'fastify'
import websocket from '@fastify/websocket'
import WebSocket from 'ws'
import { Op, PIXEL_BYTES } from '../../src/protocol/wire.js'
import { applyPixel, bearer, listening, port, snapshotFrame, verify } from './common.js'

const app = Fastify({ logger: false })
await app.register(websocket, { options: { maxPayload: 16384, perMessageDeflate: false } })
await app.register(async function routes (app) {
  app.get<{ Querystring: { snapshot?: string } }>('/ws', {
    websocket: true,
    preValidation: async (request, reply) => {
      if (verify(bearer(request.headers.authorization)) === null) return reply.code(401).send({ error: 'INVALID_TOKEN' })
    }
  }, (socket, request) => {
    if (request.query.snapshot !== undefined) socket.send(snapshotFrame())
    socket.on('message', (message: Buffer, isBinary: boolean) => {
      if (!isBinary || message.length !== PIXEL_BYTES || message[0] !== Op.PIXEL) return
      applyPixel(message)
      app.websocketServer.clients.forEach((client) => {
        if (client.readyState === WebSocket.OPEN) client.send(message)
      })
    })
  })
})
await app.listen({ host: '127.0.0.1', port })
listening((app.server.address() as { port: number }).port)
