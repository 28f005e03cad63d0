// Baseline (b): Socket.IO doing the same as (a), with binary payloads: every
// pixel is re-emitted to everyone as it arrives (`io.emit`, from the docs'
// broadcasting page). WebSocket transport only, JWT in the handshake `auth`.
import { createServer } from 'node:http'
import { Server } from 'socket.io'
import { Op, PIXEL_BYTES } from '../../src/protocol/wire.js'
import { applyPixel, listening, port, snapshotFrame, verify } from './common.js'

const http = createServer()
const io = new Server(http, { transports: ['websocket'], serveClient: false, perMessageDeflate: false, maxHttpBufferSize: 16384 })
io.use((socket, next) => {
  if (verify(socket.handshake.auth.token as string | undefined) === null) return next(new Error('INVALID_TOKEN'))
  next()
})
io.on('connection', (socket) => {
  if (socket.handshake.auth.snapshot === true) socket.emit('snap', snapshotFrame())
  socket.on('px', (message: unknown) => {
    if (!Buffer.isBuffer(message) || message.length !== PIXEL_BYTES || message[0] !== Op.PIXEL) return
    applyPixel(message)
    io.emit('px', message)
  })
})
http.listen(port, '127.0.0.1', () => listening((http.address() as { port: number }).port))
