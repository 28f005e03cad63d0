// Baseline (d): the real peer to beat (issue 11). Plain `ws` on node:http,
// written as a careful engineer would by hand, with per-tick batching: the
// pixels of a tick (TICK_MS, 50 ms like pixelwire's default) become ONE
// binary UPDATES frame in pixelwire's own layout, encoded and WebSocket-framed
// once, and that same Buffer is written to every client's TCP socket.
//
// It speaks enough of pixelwire's protocol for the bench's pixelwire clients
// (the very same client code measures both servers): the JWT checked before
// the upgrade (401 otherwise), a `hello` text, a zlib-deflated SNAPSHOT on
// join (cached per seq), PIXEL and PIXELS from painters and admins, UPDATES
// whose seq is the canvas seq after its last pixel. A client whose socket
// holds more than SEND_BUFFER_BYTES unsent (pixelwire's default, 1 MiB) is
// closed with 4008, so memory stays bounded as in pixelwire.
//
// What it leaves out, on purpose (it is the delivery pipeline alone, the
// strictest peer): persistence, rate limits, presence, cursors, heartbeats,
// resume, metrics.
import { createServer } from 'node:http'
import type { Socket } from 'node:net'
import * as wsModule from 'ws'
import { type WebSocket, WebSocketServer } from 'ws'
import {
  Op, PIXELS_HEADER_BYTES, PIXEL_BYTES, PIXEL_RECORD_BYTES as RECORD, UPDATES_HEADER_BYTES, readU16, writeU32, writeU64
} from '../../src/protocol/wire.js'
import { applyRecord, bearer, canvasSeq, deflatedSnapshotFrame, HEIGHT, listening, port, verify, WIDTH } from './common.js'

const TICK_MS = Number(process.env.TICK_MS ?? 50)
const SEND_BUFFER_BYTES = Number(process.env.SEND_BUFFER_BYTES ?? 1024 * 1024)
const MAX_MESSAGE_BYTES = 64 * 1024

/** ws's framer (`Sender.frame`): exported by ws 8, missing from @types/ws. */
interface FrameOptions { fin: boolean, rsv1: boolean, opcode: number, mask: boolean, readOnly: boolean }
const { Sender } = wsModule as unknown as { Sender: { frame (data: Buffer, o: FrameOptions): Buffer[] } }
const BINARY: FrameOptions = { fin: true, rsv1: false, opcode: 0x02, mask: false, readOnly: false }

interface Client { ws: WebSocket, socket: Socket, index: number }
/** Open clients, dense for the per-tick loop; removal swaps the last one in (O(1)). */
const clients: Client[] = []
let nextId = 1

function drop (c: Client): void {
  if (c.index < 0) return
  const last = clients.pop()!
  if (last !== c) { clients[c.index] = last; last.index = c.index }
  c.index = -1
}

// The pending UPDATES frame, built in place: op, seq u64, count u32, then 7-byte records.
const HEAD = UPDATES_HEADER_BYTES
let batch = Buffer.allocUnsafe(64 * 1024)
let used = HEAD

function onDraw (this: WebSocket, data: Buffer, isBinary: boolean): void {
  if (!isBinary || data.length < PIXEL_BYTES) return
  // PIXEL: op 0 + one record (8 bytes); PIXELS: op 1, count u16, count records
  const count = data[0] === Op.PIXEL && data.length === PIXEL_BYTES ? 1 : data[0] === Op.PIXELS && data.length === PIXELS_HEADER_BYTES + RECORD * readU16(data, 1) ? readU16(data, 1) : 0
  const from = data[0] === Op.PIXEL ? 1 : PIXELS_HEADER_BYTES
  if (used + RECORD * count > batch.length) {
    const grown = Buffer.allocUnsafe(Math.max(2 * batch.length, used + RECORD * count))
    batch.copy(grown, 0, 0, used)
    batch = grown
  }
  for (let o = from; o < from + RECORD * count; o += RECORD) {
    if (readU16(data, o) >= WIDTH || readU16(data, o + 2) >= HEIGHT) continue
    data.copy(batch, used, o, o + RECORD)
    used += RECORD
  }
}

/**
 * Once per tick: the batch is applied to the canvas (so a joiner's snapshot
 * is always at the seq of the last frame sent, and the UPDATES that follow
 * it continue from there), then one UPDATES frame, framed once, the same
 * bytes written to every socket.
 */
function tick (): void {
  if (used === HEAD) return
  for (let o = HEAD; o < used; o += RECORD) applyRecord(batch, o)
  batch[0] = Op.UPDATES
  writeU64(batch, 1, canvasSeq())
  writeU32(batch, 9, (used - HEAD) / RECORD)
  const framed = Buffer.concat(Sender.frame(batch.subarray(0, used), BINARY))
  used = HEAD
  // Backwards, so that drop() (which moves the last client to this index) never skips one.
  for (let i = clients.length - 1; i >= 0; i--) {
    const c = clients[i]
    if (c.socket.writableLength > SEND_BUFFER_BYTES) {
      drop(c)
      c.ws.close(4008, 'slow consumer')
      continue
    }
    // Safe beside ws's own sender: without permessage-deflate and Blobs it
    // writes synchronously and never queues, so frames cannot interleave.
    c.socket.write(framed)
  }
}
setInterval(tick, TICK_MS)

const wss = new WebSocketServer({ noServer: true, clientTracking: false, perMessageDeflate: false, maxPayload: MAX_MESSAGE_BYTES })
const http = createServer((req, res) => { res.writeHead(404).end() })
http.on('upgrade', (req, socket: Socket, head) => {
  const url = new URL(req.url ?? '/', 'http://localhost')
  const claims = url.pathname === '/ws' ? verify(bearer(req.headers.authorization) ?? url.searchParams.get('token') ?? undefined) : null
  if (claims === null) {
    socket.end(`HTTP/1.1 ${url.pathname === '/ws' ? '401 Unauthorized' : '404 Not Found'}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`)
    return
  }
  wss.handleUpgrade(req, socket, head, (ws) => {
    const role = claims.role ?? 'painter'
    const c: Client = { ws, socket, index: clients.length }
    clients.push(c)
    ws.on('close', () => drop(c))
    ws.on('error', () => drop(c))
    if (role === 'painter' || role === 'admin') ws.on('message', onDraw)
    ws.send(JSON.stringify({
      type: 'hello',
      connectionId: nextId++,
      user: { id: claims.sub, name: claims.sub, role },
      canvas: { id: 'main', width: WIDTH, height: HEIGHT, seq: canvasSeq(), epoch: 'bench' },
      resume: 'snapshot',
      limits: {},
      heartbeatMs: 0
    }))
    ws.send(deflatedSnapshotFrame())
  })
})
http.listen(port, '127.0.0.1', () => listening((http.address() as { port: number }).port))
