import fp from 'fastify-plugin'
import websocket from '@fastify/websocket'
import { CloseCode } from '../src/protocol/errors.js'

export const SUBPROTOCOL = 'pixelwire.v1'

/**
 * @fastify/websocket with limits sized to the protocol, and a drain at
 * shutdown: refuse new handshakes, commit and broadcast the pending batch,
 * then close every client with 1001.
 */
export default fp(async function ws (fastify) {
  const c = fastify.config
  await fastify.register(websocket, {
    options: {
      maxPayload: c.MAX_MESSAGE_BYTES,
      perMessageDeflate: false,
      clientTracking: false,
      handleProtocols: (protocols: Set<string>) => protocols.has(SUBPROTOCOL) ? SUBPROTOCOL : false
    },
    preClose: async function drain () {
      fastify.connections.startDraining()
      fastify.canvases.flush()
      await fastify.connections.closeAll(CloseCode.GOING_AWAY, Math.floor(c.SHUTDOWN_TIMEOUT_MS / 2))
      await new Promise<void>((resolve) => fastify.websocketServer.close(() => resolve()))
    }
  })
}, { name: 'websocket', dependencies: ['config', 'connections', 'canvases'] })
