// The `ws` adapter: the Transport of a connection is its WebSocket itself,
// a subclass the ws server builds for every upgrade (its `WebSocket`
// option), so a connection costs no wrapper object and no closure: the
// socket's events go to module-level handlers that find the connection,
// and the app's handlers for it, on the socket.
//
// One addition to ws: a shared frame (a tick's UPDATES, framed once for
// everyone) is written straight to the TCP socket when ws's sender is idle,
// skipping ws's per-send framing (a header allocation, cork, two writes,
// uncork). When the sender is busy (it never is without permessage-deflate
// or Blobs, but order must hold regardless), it goes through ws.send like
// any message. ws 8 queues a send only while its sender is busy (`_state`
// not 0) and drains the queue as it turns idle, in the same stack, so an
// idle sender has an empty queue: `_state` alone tells (the queue array is
// one more object per connection a tick would touch).
import { WebSocket } from 'ws'
import type { Connection, SharedFrame, Transport } from '../../src/connection/connection.js'
import { wsFrame } from './ws-frame.js'

/** What the socket events of every connection of one app lead to: built once per app, never per connection. */
export interface SocketEvents {
  message (conn: Connection, data: Buffer, isBinary: boolean): void
  pong (conn: Connection): void
  /**
   * ws refused what the peer sent (oversize, bad frame, invalid UTF-8, too
   * many fragments) and has already sent its close frame with `code`
   * (null when ws gave none); it ends the socket once the close handshake
   * is done, or after the server's closeTimeout.
   */
  protocolError (conn: Connection, code: number | null, err: Error): void
  close (conn: Connection, code: number): void
}

/** The ws internals sendShared relies on (ws 8.x): the sender's state (0: idle, nothing queued) and the socket. */
interface WsInternals {
  _socket: { write (b: Buffer): boolean } | null
  _sender: { _state: number }
}

export class WsTransport extends WebSocket implements Transport {
  /** set by bind(), before any event is listened to */
  conn: Connection | null = null
  events: SocketEvents | null = null

  /** Route this socket's events to `events` for `conn`, through the module-level handlers below. */
  bind (conn: Connection, events: SocketEvents): void {
    this.conn = conn
    this.events = events
    this.on('message', onSocketMessage)
    this.on('pong', onSocketPong)
    this.on('error', onSocketError)
    this.on('close', onSocketClose)
  }

  sendShared (frame: SharedFrame): void {
    const self = this as unknown as WsInternals
    if (this.readyState === WebSocket.OPEN && self._socket !== null && self._sender._state === 0) {
      self._socket.write(frame.framed ??= wsFrame(frame.data))
    } else {
      this.send(frame.data)
    }
  }
}

// ws types listeners with `this: WebSocket`; every socket of this server is a WsTransport.
function onSocketMessage (this: WebSocket, data: Buffer, isBinary: boolean): void {
  const s = this as WsTransport
  s.events!.message(s.conn!, data, isBinary)
}

function onSocketPong (this: WebSocket): void {
  const s = this as WsTransport
  s.events!.pong(s.conn!)
}

function onSocketError (this: WebSocket, err: Error): void {
  const s = this as WsTransport
  s.events!.protocolError(s.conn!, wsErrorCloseCode(err), err)
}

function onSocketClose (this: WebSocket, code: number): void {
  const s = this as WsTransport
  s.events!.close(s.conn!, code)
}

/**
 * The close code ws sent for a protocol error it raised. ws keeps it on the
 * error under a symbol it does not export (`kStatusCode`, description
 * 'status-code'); null when absent.
 */
export function wsErrorCloseCode (err: Error): number | null {
  for (const key of Object.getOwnPropertySymbols(err)) {
    if (key.description !== 'status-code') continue
    const code = (err as unknown as Record<symbol, unknown>)[key]
    if (typeof code === 'number') return code
  }
  return null
}
