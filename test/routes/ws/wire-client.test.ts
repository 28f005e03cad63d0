// A client built on the wire module alone (what the browser bundle and a
// client library use) against the real server over real sockets: its
// encoders are what the server reads, its decoders read what the server
// writes, and the JSON messages have the shapes its types say.
import { inflateSync } from 'node:zlib'
import t from 'tap'
import {
  Op, PIXEL_RECORD_BYTES, decodeServerBinary, encodeCursor, encodePixel, encodePixels, encodeRect, readPixelRecord, writePixelRecord,
  type ErrorMessage, type HelloMessage, type ServerFrame
} from '../../../src/protocol/wire.js'
import { listen, token, TestClient, isError, isHello, type Msg } from '../../helper.js'

/** The next binary frame of `kind`, decoded by the wire module as a browser would (a fresh Uint8Array). */
const OPS = { snapshot: Op.SNAPSHOT, updates: Op.UPDATES, cursors: Op.CURSORS }

async function frame<K extends ServerFrame['kind']> (c: TestClient, kind: K): Promise<Extract<ServerFrame, { kind: K }>> {
  const m = await c.next((m: Msg) => m.bin?.[0] === OPS[kind])
  const res = decodeServerBinary(new Uint8Array(m.bin as Buffer))
  if (!res.ok) throw new Error(res.error.message)
  return res.value as Extract<ServerFrame, { kind: K }>
}

function pixels (records: Uint8Array): Array<[number, number, number]> {
  const out: Array<[number, number, number]> = []
  for (let o = 0; o < records.length; o += PIXEL_RECORD_BYTES) {
    const r = readPixelRecord(records, o)
    out.push([r.x, r.y, r.color])
  }
  return out
}

t.test('a wire-module client draws, watches and reads every message the server sends it', async (t) => {
  const srv = await listen(t, { TICK_MS: '20', DEFAULT_CANVAS_WIDTH: '300', DEFAULT_CANVAS_HEIGHT: '200' })
  const a = new TestClient(srv.wsUrl, { token: token({ sub: 'a', name: 'Ann' }) })
  const b = new TestClient(srv.wsUrl, { token: token({ sub: 'b', role: 'viewer' }) })
  t.teardown(() => { a.close(); b.close() })
  await Promise.all([a.opened, b.opened])

  const hello: HelloMessage = (await a.next(isHello)).json
  t.match(hello, {
    type: 'hello',
    connectionId: Number,
    user: { id: 'a', name: 'Ann', role: 'painter' },
    canvas: { id: 'main', width: 300, height: 200, seq: 0, epoch: String },
    resume: 'snapshot',
    limits: { maxMessageBytes: Number, maxStrokePixels: Number, maxRectPixels: Number, pixelRate: Number, pixelBurst: Number, tickMs: 20 },
    heartbeatMs: Number
  }, 'hello has every field HelloMessage declares')
  const snap = await frame(a, 'snapshot')
  t.same([snap.seq, snap.width, snap.height, snap.encoding], [0, 300, 200, 1])
  t.equal(inflateSync(snap.payload).length, 300 * 200 * 3, 'the payload inflates to the RGB rows')
  await b.next(isHello)
  await frame(b, 'snapshot')

  // Uint8Array frames, as a browser sends them.
  const stroke = new Uint8Array(2 * PIXEL_RECORD_BYTES)
  writePixelRecord(stroke, 0, 0, 0, 0xff0000)
  writePixelRecord(stroke, PIXEL_RECORD_BYTES, 299, 199, 0x00ff00)
  a.send(encodePixel(7, 8, 0x123456))
  a.send(encodePixels(stroke))
  a.send(encodeRect(1, 2, 2, 1, 0xabcdef))
  const want = [[7, 8, 0x123456], [0, 0, 0xff0000], [299, 199, 0x00ff00], [1, 2, 0xabcdef], [2, 2, 0xabcdef]]
  const got: Array<[number, number, number]> = []
  let seq = 0
  while (got.length < want.length) {
    const u = await frame(b, 'updates')
    t.equal(u.seq, seq + u.count, 'seq is the seq after the last pixel')
    seq = u.seq
    got.push(...pixels(u.records))
  }
  t.same(got, want, 'the watcher read every pixel, in order')

  a.send(encodeCursor(299, 0))
  const cursors = await frame(b, 'cursors')
  t.same(cursors.cursors, [{ connectionId: hello.connectionId, x: 299, y: 0 }], 'the painter\'s cursor, by its connection id')

  a.send(encodePixel(300, 0, 0))
  const err: ErrorMessage = (await a.next(isError('OUT_OF_BOUNDS'))).json
  t.match(err, { type: 'error', code: 'OUT_OF_BOUNDS', message: /outside the 300x200 canvas/ })
})
