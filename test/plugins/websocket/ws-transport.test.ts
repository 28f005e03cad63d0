// The ws adapter: shared frames framed once and written as is, over real
// sockets, in order with ordinary sends and with the same accounting; socket
// events routed to the app's handlers by module-level functions.
import { once } from 'node:events'
import t from 'tap'
import WebSocket, { WebSocketServer } from 'ws'
import { Connection, SharedFrame, type Transport } from '../../../src/connection/connection.js'
import { createMeter } from '../../../src/metrics.js'
import { wsFrame } from '../../../plugins/websocket/ws-frame.js'
import { WsTransport, wsErrorCloseCode, type SocketEvents } from '../../../plugins/websocket/ws-transport.js'

// ws exports its Sender at runtime; @types/ws does not declare it.
const { Sender } = await import('ws') as unknown as { Sender: { frame (data: Buffer, o: object): Buffer[] } }
const theirs = (data: Buffer, opcode: number) => Buffer.concat(Sender.frame(data, { fin: true, rsv1: false, opcode, mask: false, readOnly: false }))

t.test('wsFrame is the frame ws itself would write, for every length encoding, binary and text', async (t) => {
  for (const len of [0, 1, 125, 126, 127, 65535, 65536, 70000]) {
    const data = Buffer.alloc(len, len & 0xff)
    t.same(wsFrame(data), theirs(data, 2), `binary, length ${len}`)
  }
  for (const len of [0, 5, 200, 70_000]) {
    const text = 'é'.repeat(len)
    t.same(wsFrame(text), theirs(Buffer.from(text), 1), `text, ${len} two-byte characters`)
  }
})

t.test('a SharedFrame is a plain value: data, its byte count, and an empty framing slot', async (t) => {
  const bin = new SharedFrame(Buffer.from([0x11, 1, 2, 3]))
  t.equal(bin.bytes, 4)
  t.equal(bin.framed, undefined, 'nothing framed until a transport does it')
  const text = new SharedFrame('{"a":"é"}')
  t.equal(text.bytes, 10, 'UTF-8 bytes of text')
})

class FakeTransport implements Transport {
  bufferedAmount = 0
  sent: Array<Buffer | string> = []
  send (d: Buffer | string) { this.sent.push(d) }
  close () {}
  ping () {}
  terminate () {}
}

const limits = { sendBufferBytes: 100, badMessageWindowMs: 1000, rateAbuseWindowMs: 1000 }
const user = { id: 'u', name: 'u', role: 'viewer' as const, exp: 0 }

t.test('Connection.sendShared: the frame itself when the transport can take it, else its data; checks and counts like send', async (t) => {
  const meter = createMeter()
  const plain = new FakeTransport()
  const a = new Connection(1, plain, user, 'main', '127.0.0.1', { ...limits, meter })
  const frame = new SharedFrame(Buffer.from([0x11, 0, 0, 0]))
  t.equal(a.sendShared(frame), true)
  t.same(plain.sent, [frame.data], 'a transport without sendShared gets the payload')
  t.equal(a.messagesOut, 1)
  t.equal(a.bytesOut, 4)
  t.equal(meter.counts.messagesOut[1], 1, 'counted as updates')

  const sharing = new (class extends FakeTransport {
    shared: SharedFrame[] = []
    sendShared (f: SharedFrame) { this.shared.push(f) }
  })()
  const b = new Connection(2, sharing, user, 'main', '127.0.0.1', { ...limits, meter })
  t.equal(b.sendShared(frame), true)
  t.equal(sharing.shared[0], frame, 'the shared frame itself, not a copy')
  const text = new SharedFrame('{"type":"presence"}')
  t.equal(b.sendShared(text), true, 'a text frame too')
  t.equal(b.bytesOut, 4 + 19)
  t.equal(meter.counts.messagesOut[3], 1, 'counted as json')
  sharing.bufferedAmount = 101
  t.equal(b.sendShared(frame), false, 'over the send buffer: refused')
  t.equal(b.sendShared(frame, true), true, 'unless it must go (up to twice the cap)')
  t.equal(b.dropped, 1)
  sharing.bufferedAmount = 0
  b.markClosed(1000)
  t.equal(b.sendShared(frame), false, 'closed: refused')
  t.equal(sharing.shared.length, 3)
})

/** A ws server whose sockets are WsTransports, and n clients connected to it. */
async function serve (t: { teardown (fn: () => unknown): void }, n = 1, options: object = {}) {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: false, clientTracking: false, WebSocket: WsTransport as unknown as typeof WebSocket, ...options })
  t.teardown(() => new Promise((resolve) => wss.close(resolve)))
  await once(wss, 'listening')
  const url = `ws://127.0.0.1:${(wss.address() as { port: number }).port}`
  const pairs: Array<{ server: WsTransport, client: WebSocket, got: Buffer[] }> = []
  for (let i = 0; i < n; i++) {
    const client = new WebSocket(url)
    client.on('error', () => {})
    const [server] = await once(wss, 'connection') as [WsTransport]
    await once(client, 'open')
    const got: Buffer[] = []
    client.on('message', (d: Buffer) => got.push(d))
    t.teardown(() => client.terminate())
    pairs.push({ server, client, got })
  }
  return pairs
}

t.test('WsTransport over a real socket: shared and ordinary sends arrive intact and in order', async (t) => {
  const [{ server, client, got }] = await serve(t)
  t.ok(server instanceof WsTransport, 'the ws server built our class')
  const big = new SharedFrame(Buffer.alloc(70_000, 7))
  const small = new SharedFrame(Buffer.from([0x11, 9]))
  server.send(Buffer.from([1]))
  server.sendShared(small)
  server.send('text')
  server.sendShared(big)
  server.sendShared(small)
  while (got.length < 5) await once(client, 'message')
  t.same(got.map((b) => b.length), [1, 2, 4, 70_000, 2])
  t.same(got[1], small.data)
  t.same(got[3], big.data)
  t.same(small.framed, wsFrame(small.data), 'the frame cached its framing')
  t.equal(server.bufferedAmount, 0, 'all written')
  server.ping()
  await once(client, 'ping')
  server.close(4008, 'slow')
  const [code] = await once(client, 'close')
  t.equal(code, 4008)
  server.sendShared(small) // after close: through ws.send, which drops it
  t.equal(got.length, 5)
})

t.test('one shared frame to many sockets is framed once; text as well as binary', async (t) => {
  const pairs = await serve(t, 3)
  const text = new SharedFrame(JSON.stringify({ type: 'presence', joined: [{ name: 'é'.repeat(100) }] }))
  const bin = new SharedFrame(Buffer.from([0x11, 1, 2]))
  const framings: Array<Buffer | undefined> = []
  for (const { server } of pairs) {
    server.sendShared(text)
    framings.push(text.framed)
    server.sendShared(bin)
  }
  t.ok(framings.every((f) => f !== undefined && f === framings[0]), 'the first socket framed it; the others reused that buffer')
  for (const { client, got } of pairs) {
    while (got.length < 2) await once(client, 'message')
    t.same(JSON.parse(got[0].toString()), JSON.parse(text.data as string))
    t.same(got[1], bin.data)
  }
})

t.test('WsTransport: while ws has something queued, a shared frame goes through ws.send, after it', async (t) => {
  const [{ server, client, got }] = await serve(t)
  const internals = server as unknown as { _sender: { _state: number, dequeue (): void } }
  const sends: unknown[] = []
  const orig = server.send.bind(server)
  server.send = ((d: Buffer) => { sends.push(d); orig(d) }) as typeof server.send
  internals._sender._state = 1 // as while deflating: ws queues
  const f = new SharedFrame(Buffer.from([0x11, 1]))
  server.sendShared(f)
  t.same(sends, [f.data], 'handed to ws.send')
  internals._sender._state = 0
  internals._sender.dequeue()
  while (got.length < 1) await once(client, 'message')
  t.same(got[0], f.data)
  server.terminate()
  await once(client, 'close')
})

t.test('a Connection over WsTransport: text and binary arrive as sent', async (t) => {
  const [{ server, client }] = await serve(t)
  const conn = new Connection(1, server, user, 'main', '127.0.0.1', limits)
  const got: Array<[string, boolean]> = []
  client.on('message', (d: Buffer, bin: boolean) => got.push([bin ? d.toString('hex') : d.toString(), bin]))
  conn.send('{"a":"é"}')
  conn.send(Buffer.from([0x11]))
  conn.sendShared(new SharedFrame(Buffer.from([0x11, 2])))
  conn.sendShared(new SharedFrame('{"b":"é"}'))
  conn.send('{"a":"é"}')
  while (got.length < 5) await once(client, 'message')
  t.same(got, [['{"a":"é"}', false], ['11', true], ['1102', true], ['{"b":"é"}', false], ['{"a":"é"}', false]])
})

t.test('bind(): every socket\'s events reach the app\'s handlers with its connection, through shared module-level functions', async (t) => {
  const pairs = await serve(t, 2, { maxPayload: 64 })
  const seen: string[] = []
  const events: SocketEvents = {
    message: (conn, data, isBinary) => seen.push(`message ${conn.id} ${isBinary ? data.toString('hex') : data.toString()}`),
    pong: (conn) => seen.push(`pong ${conn.id}`),
    protocolError: (conn, code) => seen.push(`error ${conn.id} ${code}`),
    close: (conn, code) => seen.push(`close ${conn.id} ${code}`)
  }
  const conns = pairs.map(({ server }, i) => {
    const conn = new Connection(i + 1, server, user, 'main', '127.0.0.1', limits)
    server.bind(conn, events)
    return conn
  })
  const [a, b] = pairs.map((p) => p.server)
  for (const ev of ['message', 'pong', 'error', 'close']) {
    t.equal(a.listeners(ev).length, 1, `one ${ev} listener`)
    t.equal(a.listeners(ev)[0], b.listeners(ev)[0], `the same ${ev} function for both sockets: no closure per connection`)
  }
  pairs[0].client.send('hi')
  pairs[1].client.send(Buffer.from([0xab]))
  a.ping()
  while (seen.length < 3) await new Promise((resolve) => setTimeout(resolve, 5))
  t.same(seen.sort(), ['message 1 hi', 'message 2 ab', 'pong 1'].sort())
  seen.length = 0
  // Over maxPayload: ws closes with 1009 and says so on its error.
  pairs[1].client.send(Buffer.alloc(100))
  const [code] = await once(pairs[1].client, 'close')
  t.equal(code, 1009, 'the client got 1009')
  t.same(seen, ['error 2 1009', 'close 2 1006'], 'protocolError carries 1009; the close event itself only saw 1006')
  t.equal(conns[1].closeCode, null, 'recording it is the handler\'s choice (the route calls conn.closing)')
})

t.test('wsErrorCloseCode: null for an error that carries no close code', async (t) => {
  t.equal(wsErrorCloseCode(new Error('plain')), null)
})
