// Pre-framed sends: a broadcast framed once and written as is, over real
// sockets, in order with ordinary sends, and with the same accounting.
import { once } from 'node:events'
import t from 'tap'
import WebSocket, { WebSocketServer } from 'ws'
import { Connection, SharedFrame, wsFrame, type Transport } from '../../../src/connection/connection.js'
import { WsTransport } from '../../../src/connection/ws-transport.js'
import { createMeter } from '../../../src/metrics.js'

// ws exports its Sender at runtime; @types/ws does not declare it.
const { Sender } = await import('ws') as unknown as { Sender: { frame (data: Buffer, o: object): Buffer[] } }

t.test('wsFrame is the frame ws itself would write, for every length encoding', async (t) => {
  for (const len of [0, 1, 125, 126, 127, 65535, 65536, 70000]) {
    const data = Buffer.alloc(len, len & 0xff)
    const theirs = Buffer.concat(Sender.frame(data, { fin: true, rsv1: false, opcode: 2, mask: false, readOnly: false }))
    t.same(wsFrame(data), theirs, `length ${len}`)
  }
})

t.test('a SharedFrame is framed once, on first use', async (t) => {
  const f = new SharedFrame(Buffer.from([0x11, 1, 2, 3]))
  t.equal(f.framed, f.framed, 'the same buffer every time')
  t.same(f.framed, Buffer.from([0x82, 4, 0x11, 1, 2, 3]))
})

class FakeTransport implements Transport {
  bufferedAmount = 0
  sent: Array<Buffer | string> = []
  framed: Buffer[] = []
  send (d: Buffer | string) { this.sent.push(d) }
  close () {}
  ping () {}
  terminate () {}
}

const limits = { sendBufferBytes: 100, badMessageWindowMs: 1000, rateAbuseWindowMs: 1000 }
const user = { id: 'u', name: 'u', role: 'viewer' as const, exp: 0 }

t.test('Connection.sendShared: pre-framed when the transport can, else plain; checks and counts like send', async (t) => {
  const meter = createMeter()
  const plain = new FakeTransport()
  const a = new Connection(1, plain, user, 'main', '127.0.0.1', { ...limits, meter })
  const frame = new SharedFrame(Buffer.from([0x11, 0, 0, 0]))
  t.equal(a.sendShared(frame), true)
  t.same(plain.sent, [frame.data], 'a transport without sendFramed gets the payload')
  t.equal(a.messagesOut, 1)
  t.equal(a.bytesOut, 4)
  t.equal(meter.counts.messagesOut[1], 1, 'counted as updates')

  const framing = new (class extends FakeTransport {
    sendFramed (framed: Buffer, data: Buffer) { this.framed.push(framed); this.sent.push(data) }
  })()
  const b = new Connection(2, framing, user, 'main', '127.0.0.1', { ...limits, meter })
  t.equal(b.sendShared(frame), true)
  t.equal(framing.framed[0], frame.framed, 'the shared frame itself, not a copy')
  framing.bufferedAmount = 101
  t.equal(b.sendShared(frame), false, 'over the send buffer: refused')
  t.equal(b.dropped, 1)
  framing.bufferedAmount = 0
  b.markClosed(1000)
  t.equal(b.sendShared(frame), false, 'closed: refused')
  t.equal(framing.framed.length, 1)
})

async function pair (t: { teardown (fn: () => unknown): void }) {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: false })
  t.teardown(() => new Promise((resolve) => wss.close(resolve)))
  await once(wss, 'listening')
  const client = new WebSocket(`ws://127.0.0.1:${(wss.address() as { port: number }).port}`)
  const [server] = await once(wss, 'connection') as [WebSocket]
  await once(client, 'open')
  const got: Buffer[] = []
  client.on('message', (d: Buffer) => got.push(d))
  t.teardown(() => client.terminate())
  return { server, client, got, transport: new WsTransport(server) }
}

t.test('WsTransport over a real socket: framed and ordinary sends arrive intact and in order', async (t) => {
  const { client, got, transport } = await pair(t)
  const big = new SharedFrame(Buffer.alloc(70_000, 7))
  const small = new SharedFrame(Buffer.from([0x11, 9]))
  transport.send(Buffer.from([1]))
  transport.sendFramed(small.framed, small.data)
  transport.send('text')
  transport.sendFramed(big.framed, big.data)
  transport.sendFramed(small.framed, small.data)
  while (got.length < 5) await once(client, 'message')
  t.same(got.map((b) => b.length), [1, 2, 4, 70_000, 2])
  t.same(got[1], small.data)
  t.same(got[3], big.data)
  t.equal(transport.bufferedAmount, 0, 'all written')
  transport.ping()
  await once(client, 'ping')
  transport.close(4008, 'slow')
  const [code] = await once(client, 'close')
  t.equal(code, 4008)
  transport.sendFramed(small.framed, small.data) // after close: through ws.send, which drops it
  t.equal(got.length, 5)
})

t.test('WsTransport: while ws has something queued, a framed send goes through ws.send, after it', async (t) => {
  const { server, client, got, transport } = await pair(t)
  const internals = server as unknown as { _sender: { _state: number } }
  const sends: unknown[] = []
  const orig = server.send.bind(server)
  server.send = ((d: Buffer) => { sends.push(d); orig(d) }) as typeof server.send
  internals._sender._state = 1 // as while deflating: ws queues
  const f = new SharedFrame(Buffer.from([0x11, 1]))
  transport.sendFramed(f.framed, f.data)
  t.same(sends, [f.data], 'handed to ws.send')
  internals._sender._state = 0
  ;(server as unknown as { _sender: { dequeue (): void } })._sender.dequeue()
  while (got.length < 1) await once(client, 'message')
  t.same(got[0], f.data)
  transport.terminate()
  await once(client, 'close')
})

t.test('text: framed as ws would, and a string sent to many connections is framed once', async (t) => {
  for (const len of [0, 5, 200, 70_000]) {
    const text = 'é'.repeat(len)
    const theirs = Buffer.concat(Sender.frame(Buffer.from(text), { fin: true, rsv1: false, opcode: 1, mask: false, readOnly: false }))
    t.same(wsFrame(text), theirs, `${len} two-byte characters`)
  }
  const meter = createMeter()
  const framing = new (class extends FakeTransport {
    sendFramed (framed: Buffer, data: Buffer | string) { this.framed.push(framed); this.sent.push(data) }
  })()
  const a = new Connection(1, framing, user, 'main', '127.0.0.1', { ...limits, meter })
  const b = new Connection(2, framing, user, 'main', '127.0.0.1', { ...limits, meter })
  const msg = JSON.stringify({ type: 'presence', joined: [{ name: 'é'.repeat(100) }] })
  t.equal(a.send(msg), true)
  t.equal(b.send(msg), true)
  t.equal(framing.framed[0], framing.framed[1], 'one frame for both')
  t.equal(a.bytesOut, Buffer.byteLength(msg), 'payload bytes counted')
  t.equal(meter.counts.messagesOut[3], 2, 'counted as json')
  a.send('{"type":"pong"}')
  t.not(framing.framed[2], framing.framed[0], 'another string, another frame')
  t.equal(a.bytesOut, Buffer.byteLength(msg) + 15)
})

t.test('a Connection over WsTransport: text and binary arrive as sent', async (t) => {
  const { client, transport } = await pair(t)
  const conn = new Connection(1, transport, user, 'main', '127.0.0.1', limits)
  const got: Array<[string, boolean]> = []
  client.on('message', (d: Buffer, bin: boolean) => got.push([bin ? d.toString('hex') : d.toString(), bin]))
  conn.send('{"a":"é"}')
  conn.send(Buffer.from([0x11]))
  conn.sendShared(new SharedFrame(Buffer.from([0x11, 2])))
  conn.send('{"a":"é"}')
  while (got.length < 4) await once(client, 'message')
  t.same(got, [['{"a":"é"}', false], ['11', true], ['1102', true], ['{"a":"é"}', false]])
})
