// The Transport of a `ws` WebSocket, with one addition: a pre-framed
// message (a tick's UPDATES or a presence broadcast, framed once for everyone) is written straight
// to the TCP socket when ws's sender is idle, skipping ws's per-send
// framing (a header allocation, cork, two writes, uncork). When the sender
// has anything queued (it never does without permessage-deflate or Blobs,
// but order must hold regardless), it goes through ws.send like any message.
import { WebSocket } from 'ws'
import type { Transport } from './connection.js'

/** The ws internals this relies on (ws 8.x): the sender's state (0: idle) and queue, and the socket. */
interface WsInternals {
  _socket: { write (b: Buffer): boolean } | null
  _sender: { _state: number, _queue: unknown[] }
}

export class WsTransport implements Transport {
  readonly ws: WebSocket
  constructor (ws: WebSocket) { this.ws = ws }
  send (data: Buffer | string): void { this.ws.send(data) }
  get bufferedAmount (): number { return this.ws.bufferedAmount }
  close (code: number, reason: string): void { this.ws.close(code, reason) }
  ping (): void { this.ws.ping() }
  terminate (): void { this.ws.terminate() }
  sendFramed (framed: Buffer, data: Buffer | string): void {
    const ws = this.ws as unknown as WebSocket & WsInternals
    if (ws.readyState === WebSocket.OPEN && ws._socket !== null && ws._sender._state === 0 && ws._sender._queue.length === 0) {
      ws._socket.write(framed)
    } else {
      this.ws.send(data)
    }
  }
}
