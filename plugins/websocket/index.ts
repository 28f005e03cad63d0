import fp from 'fastify-plugin'
import websocket, { type WebsocketPluginOptions } from '@fastify/websocket'
import { Disconnect } from '../../src/connection/disconnect.js'
import { WsTransport } from './ws-transport.js'

export const SUBPROTOCOL = 'pixelwire.v1'

/** ws 8.23 options that @types/ws does not know yet. */
type HardenedServerOptions = NonNullable<WebsocketPluginOptions['options']> & {
  maxFragments: number
  maxBufferedChunks: number
  maxPendingAutoPongs: number
  closeTimeout: number
}

/**
 * @fastify/websocket with limits sized to the protocol, every socket built
 * as our Transport, and a drain at shutdown: refuse new handshakes, commit
 * and broadcast the pending batch, then close every client with 1001.
 *
 * The drain runs as the preClose hook, while Fastify is already closing.
 * Requests that arrive meanwhile are still routed (return503OnClosing is
 * off, src/app.ts): /health answers 200, /health/ready names `draining`,
 * and an upgrade gets the handshake's own 503 with Retry-After, after which
 * @fastify/websocket's onResponse hook destroys its socket. Fastify's
 * generic 503 would leave that socket open: it is an upgraded socket, which
 * closeAllConnections() does not see, so server.close() waited for it
 * until the shutdown timeout killed the process (exit 1, WAL left behind).
 */
export default fp(async function ws (fastify) {
  const c = fastify.config
  const options: HardenedServerOptions = {
    maxPayload: c.MAX_MESSAGE_BYTES,
    // Bounds on what a hostile peer can make us buffer (ws >= 8.23).
    maxFragments: c.WS_MAX_FRAGMENTS,
    maxBufferedChunks: c.WS_MAX_BUFFERED_CHUNKS,
    maxPendingAutoPongs: c.WS_MAX_PENDING_AUTO_PONGS,
    // A close handshake the peer does not finish (it does not read, or
    // keeps sending after a protocol error) ends with the socket destroyed.
    closeTimeout: c.WS_CLOSE_TIMEOUT_MS,
    // Compression costs CPU and memory per socket and invites zip bombs;
    // snapshots are deflated once by the server instead.
    perMessageDeflate: false,
    clientTracking: false,
    // Every socket is built as our Transport (the class is all ws uses;
    // its type also asks for the statics of ws's namespace).
    WebSocket: WsTransport as unknown as NonNullable<HardenedServerOptions['WebSocket']>,
    handleProtocols: (protocols: Set<string>) => protocols.has(SUBPROTOCOL) ? SUBPROTOCOL : false
  }
  await fastify.register(websocket, {
    options,
    preClose: async function drain () {
      fastify.connections.startDraining()
      fastify.canvases.flush()
      await fastify.connections.closeAll(Disconnect.GOING_AWAY, Math.floor(c.SHUTDOWN_TIMEOUT_MS / 2))
      await new Promise<void>((resolve) => fastify.websocketServer.close(() => resolve()))
    }
  })
}, { name: 'websocket', dependencies: ['config', 'connections', 'canvases'] })
