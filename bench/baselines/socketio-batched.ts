// Baseline (c): the strongest Socket.IO peer an expert would write. Pixels
// are coalesced per tick (50 ms, like pixelwire's default) into one binary
// buffer and broadcast with one `io.emit` per tick: Socket.IO encodes a
// broadcast once and hands the same pre-encoded packet to every client.
// Frame: 0x01, then count × (x u16, y u16, r, g, b).
import { createServer } from 'node:http'
import { Server } from 'socket.io'
import { Op, PIXEL_BYTES, PIXEL_RECORD_BYTES } from '../../src/protocol/wire.js'
import { applyPixel, listening, port, snapshotFrame, verify } from './common.js'

const TICK_MS = Number(process.env.TICK_MS ?? 50)
const http = createServer()
const io = new Server(http, { transports: ['websocket'], serveClient: false, perMessageDeflate: false, maxHttpBufferSize: 16384 })
io.use((socket, next) => {
  if (verify(socket.handshake.auth.token as string | undefined) === null) return next(new Error('INVALID_TOKEN'))
  next()
})
let batch = Buffer.allocUnsafe(64 * 1024)
let used = 1
io.on('connection', (socket) => {
  if (socket.handshake.auth.snapshot === true) socket.emit('snap', snapshotFrame())
  socket.on('px', (message: unknown) => {
    if (!Buffer.isBuffer(message) || message.length !== PIXEL_BYTES || message[0] !== Op.PIXEL) return
    applyPixel(message)
    if (used + PIXEL_RECORD_BYTES > batch.length) {
      const grown = Buffer.allocUnsafe(batch.length * 2)
      batch.copy(grown, 0, 0, used)
      batch = grown
    }
    message.copy(batch, used, 1, PIXEL_BYTES)
    used += PIXEL_RECORD_BYTES
  })
})
setInterval(() => {
  if (used === 1) return
  batch[0] = Op.PIXELS
  io.emit('px', Buffer.from(batch.subarray(0, used)))
  used = 1
}, TICK_MS)
http.listen(port, '127.0.0.1', () => listening((http.address() as { port: number }).port))
