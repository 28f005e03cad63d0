// What a connection's inbound messages do. Bad input gets a JSON `error` and
// the connection lives on; nothing here throws on any input.
import type { CanvasService, Logger } from '../canvas/canvas-service.js'
import { decodeClientBinary, type Bounds } from '../protocol/codec.js'
import { encodeJson, parseClientText } from '../protocol/messages.js'
import { encodeError, protocolError, type ProtocolError } from '../protocol/errors.js'
import { canDraw, type Connection } from './connection.js'

export interface SessionOptions {
  canvases: CanvasService<Connection>
  log: Logger
  maxStrokePixels: number
  maxRectPixels: number
}

export function createMessageHandler (opts: SessionOptions) {
  const { canvases } = opts

  function reject (conn: Connection, err: ProtocolError): void {
    conn.send(encodeError(err))
  }

  function onBinary (conn: Connection, data: Buffer): void {
    const canvas = canvases.get(conn.canvasId)
    if (canvas === undefined) return reject(conn, protocolError('UNAVAILABLE', 'canvas no longer exists'))
    const bounds: Bounds = { width: canvas.width, height: canvas.height, maxStrokePixels: opts.maxStrokePixels, maxRectPixels: opts.maxRectPixels }
    const res = decodeClientBinary(data, bounds)
    if (!res.ok) return reject(conn, res.error)
    const op = res.value
    if (op.kind === 'cursor') return // relayed as CURSORS once presence lands; never an error
    if (!canDraw(conn.user.role)) return reject(conn, protocolError('FORBIDDEN', `role ${conn.user.role} may not draw`))
    const err = canvases.draw(canvas, op, conn.user.id, conn.id)
    if (err !== null) reject(conn, err)
  }

  function onText (conn: Connection, text: string): void {
    const res = parseClientText(text)
    if (!res.ok) return reject(conn, res.error)
    const msg = res.value
    switch (msg.type) {
      case 'ping':
        conn.send(encodeJson(msg.id === undefined ? { type: 'pong' } : { type: 'pong', id: msg.id }))
        return
      case 'subscribe':
      case 'unsubscribe':
      case 'publish':
        return reject(conn, protocolError('UNKNOWN_STREAM', `no stream ${msg.stream}`))
      case 'auth':
        return reject(conn, protocolError('BAD_MESSAGE', 'token replacement is not supported yet'))
    }
  }

  return function onClientMessage (conn: Connection, data: Buffer, isBinary: boolean): void {
    if (conn.closed) return
    conn.messagesIn++
    conn.bytesIn += data.length
    try {
      if (isBinary) onBinary(conn, data)
      else onText(conn, data.toString('utf8'))
    } catch (err) {
      // A bug must cost one message, not the process.
      opts.log.error({ err, conn: conn.id }, 'message handler failed')
      reject(conn, protocolError('INTERNAL', 'internal error'))
    }
  }
}
