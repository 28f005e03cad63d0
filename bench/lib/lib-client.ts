// The bench's pixelwire clients (receivers, painters, joiners of
// lib/worker.ts; also baseline (d)'s, which speaks the protocol): the
// client library (pixelwire/client) in its low-level mode, opened the one
// way the bench uses it. The library owns the connection (token in the
// Authorization header, hello, SNAPSHOT, close codes and reconnecting; the
// bench ends a client at its first close, as its raw sockets never came
// back); each UPDATES frame goes to `onUpdatesFrame` as it arrived, read
// from Node's `ws` `message` event with no event object per frame, and the
// callback does the counting (bench/client-recv.ts measures this path
// against raw `ws`).
import type { Socket as NetSocket } from 'node:net'
import WebSocket from 'ws'
import { PixelwireClient } from '../../src/client-lib/index.js'

type SocketClass = new (url: string, protocols?: string | string[], options?: WebSocket.ClientOptions) => object

export interface LibClientOptions {
  /** ws://127.0.0.1:port/ws */
  url: string
  /** a signed token (no renewal: the bench's tokens outlive its runs) */
  token: string
  /** each UPDATES frame (valid only during the call), its header's seq and record count */
  onUpdatesFrame: (frame: Uint8Array, seq: number, count: number) => void
  /** a slow receiver: its socket stops reading once its first binary frame (the SNAPSHOT) is in */
  slow?: boolean
  /** the socket's errors (a refused upgrade, a reset), as the raw clients record them */
  onSocketError?: (err: Error) => void
  /** bench/client-recv.ts only: wrap the socket class (to measure another path of the library) */
  wrapSocket?: (Base: SocketClass) => SocketClass
}

/**
 * The library's socket: a plain `ws` client (not a subclass: the bench's
 * sockets all share one shape, as the raw clients' did) with the bench's
 * options: no compression, no UTF-8 check, 20 s to open.
 */
export function socketClass (o: Pick<LibClientOptions, 'slow' | 'onSocketError'>): SocketClass {
  const { slow = false, onSocketError } = o
  // Called with `new` by the library: the object returned is the socket.
  return function BenchSocket (url: string, protocols?: string | string[], options: WebSocket.ClientOptions = {}): WebSocket {
    const ws = new WebSocket(url, protocols, { ...options, handshakeTimeout: 20_000, perMessageDeflate: false, skipUTF8Validation: true })
    if (onSocketError !== undefined) ws.on('error', onSocketError)
    if (slow) {
      // Registered before the library's listener: the pause comes before the library reads the frame, as the raw path did.
      const stop = (_d: unknown, bin: boolean): void => {
        if (!bin) return
        (ws as unknown as { _socket: NetSocket })._socket.pause()
        ws.off('message', stop)
      }
      ws.on('message', stop)
    }
    return ws
  } as unknown as SocketClass
}

/**
 * A library client as the bench opens it (not connected yet): header
 * token, no in-band renewal, no heartbeat pings of its own (the server's
 * heartbeat only, as for the other kinds), `nodebuffer` frames, low-level
 * mode. Reconnecting is the library's; the bench closes it on its first
 * close (lib/worker.ts), as the raw clients never reconnected.
 */
export function openLibClient (o: LibClientOptions): PixelwireClient {
  const Socket = socketClass(o)
  return new PixelwireClient({
    url: o.url,
    auth: 'header',
    getToken: () => o.token,
    renew: false,
    heartbeat: false,
    WebSocket: o.wrapSocket !== undefined ? o.wrapSocket(Socket) : Socket,
    binaryType: 'nodebuffer',
    onUpdatesFrame: o.onUpdatesFrame
  })
}

/**
 * A socket with `on` and `removeListener` hidden from the library, which
 * then reads through `onmessage` as from a browser's socket (the path the
 * first attempt measured; bench/client-recv.ts's C, and its test).
 */
export function hidingOn<T extends object> (ws: T): T {
  return new Proxy(ws, {
    get: (target, p) => {
      if (p === 'on' || p === 'removeListener') return undefined
      const v = Reflect.get(target, p, target)
      return typeof v === 'function' ? v.bind(target) : v
    },
    set: (target, p, v) => Reflect.set(target, p, v, target)
  })
}
