// pixelwire/client's low-level mode, as a load generator would use it,
// against the real server over real sockets: UPDATES frames handed
// over as they arrived (checked here with the tests' own decoder), no
// picture kept, a resume by replay with no gap; fire-and-forget draws
// (sendPixel, sendPixels) whose refusals are `error` events and never taken
// for the answer to a request sent after them; no heartbeat pings when
// asked for none; on Node's `ws` the socket's own `message` event (no
// MessageEvent per frame) through a cut and a kick, and `onmessage` when
// the socket has no `on` (as a browser's).
import t from 'tap'
import WebSocket from 'ws'
import { PIXEL_RECORD_BYTES, writePixelRecord } from '../../src/protocol/wire.js'
import { PixelwireError } from '../../src/client-lib/index.js'
import { listen, parseUpdates, pixel, rect, stroke, token } from '../helper.js'
import { drawAndSync, libClient, proxy, rawPainter, serverPicture, until } from './helper.js'
import { hidingOn } from '../../bench/lib/lib-client.js'

const SMALL = { TICK_MS: '20', DEFAULT_CANVAS_WIDTH: '64', DEFAULT_CANVAS_HEIGHT: '48' }

interface Frame { bytes: Buffer, seq: number, count: number, at: number }

t.test('low-level mode: each UPDATES frame as it arrived, no picture, a resume by replay with no gap', async (t) => {
  const srv = await listen(t, SMALL)
  const raw = await rawPainter(t, srv)
  await drawAndSync(raw, [rect(0, 0, 8, 8, 1, 2, 3)]) // history before the client comes
  const px = await proxy(t, srv.port)
  const frames: Frame[] = []
  const c = libClient(t, `ws://127.0.0.1:${px.port}/ws`, { sub: 'low', role: 'viewer' }, {
    binaryType: 'nodebuffer',
    // A copy: the frame is the library's only during the call.
    onUpdatesFrame: (frame, seq, count) => { frames.push({ bytes: Buffer.from(frame), seq, count, at: c.canvas.seq }) }
  })
  let snapshots = 0
  let updatesEvents = 0
  c.on('snapshot', () => { snapshots++ })
  c.on('updates', () => { updatesEvents++ })
  await c.connect()
  const start = c.canvas.seq
  t.equal(snapshots, 1, 'the snapshot event fired')
  t.equal(start, c.hello!.canvas.seq, 'the canvas stands at the hello\'s seq')
  t.match(c.canvas, { width: 64, height: 48 })
  t.equal(c.canvas.rgb.length, 0, 'no picture is kept')
  t.throws(() => c.canvas.pixel(0, 0), /no picture/)

  const s1 = await drawAndSync(raw, [pixel(1, 2, 10, 20, 30), stroke([[3, 4, 40, 50, 60], [5, 6, 70, 80, 90]])])
  await until(c, () => c.canvas.seq >= s1, 5000, 'the first pixels')
  px.cut()
  // While the client is away: more pixels; the resume replays them.
  const s2 = await drawAndSync(raw, [rect(10, 10, 3, 2, 1, 1, 1), pixel(63, 47, 4, 5, 6)])
  await until(c, () => c.state === 'live' && c.canvas.seq >= s2, 10_000, 'the resume')
  t.equal(c.hello!.resume, 'replay', 'resumed by replay, from the seq it held')
  t.equal(snapshots, 1, 'no second snapshot')
  t.equal(updatesEvents, 0, 'no updates events in low-level mode')

  // Every frame checked with the tests' own decoder: header as reported, seq continuous from the snapshot.
  let seq = start
  const got: number[][] = []
  for (const f of frames) {
    const u = parseUpdates(f.bytes)
    t.equal(f.seq, u.seq, 'the seq handed over is the header\'s')
    t.equal(f.count, u.px.length, 'so is the count')
    t.equal(u.seq - u.px.length, seq, 'continues from the last seq: no gap, no duplicate')
    t.equal(f.at, u.seq, 'canvas.seq is the frame\'s during the call')
    seq = u.seq
    got.push(...u.px)
  }
  t.equal(seq, s2)
  t.same(got, [
    [1, 2, 10, 20, 30], [3, 4, 40, 50, 60], [5, 6, 70, 80, 90],
    [10, 10, 1, 1, 1], [11, 10, 1, 1, 1], [12, 10, 1, 1, 1], [10, 11, 1, 1, 1], [11, 11, 1, 1, 1], [12, 11, 1, 1, 1],
    [63, 47, 4, 5, 6]
  ], 'every pixel once, in order, across the drop')
})

t.test('sendPixel and sendPixels: fire and forget; a refusal is an error event, not the answer to the next request', async (t) => {
  const srv = await listen(t, SMALL)
  const c = libClient(t, srv.wsUrl, { sub: 'ff' }, { binaryType: 'nodebuffer' })
  t.equal(c.sendPixel(1, 1, 0xff0000), false, 'not live: nothing sent')
  await c.connect()
  const errors: PixelwireError[] = []
  c.on('error', (e) => errors.push(e))

  // Sent in one go: the refusal of the first comes before the subscribe's answer.
  t.equal(c.sendPixel(100, 1, 0x123456), true)
  const sub = c.subscribe('chat:main')
  t.match(await sub, { offset: Number }, 'the subscribe after it was not refused')
  t.equal(errors.length, 1)
  t.match(errors[0], { code: 'OUT_OF_BOUNDS' }, 'the refused pixel is an error event')

  const records = new Uint8Array(2 * PIXEL_RECORD_BYTES)
  writePixelRecord(records, 0, 2, 2, 0x0000aa)
  writePixelRecord(records, PIXEL_RECORD_BYTES, 3, 2, 0x0000bb)
  t.equal(c.sendPixel(1, 1, 0xaa0000), true)
  t.equal(c.sendPixels(records), true)
  t.throws(() => c.sendPixel(70_000, 0, 0), RangeError, 'what the wire cannot carry throws')
  // A confirmed draw after them: the barrier covers what was sent before it.
  const res = await c.draw(4, 2, 0x00cc00)
  t.same([c.canvas.pixel(1, 1), c.canvas.pixel(2, 2), c.canvas.pixel(3, 2), c.canvas.pixel(4, 2)], [0xaa0000, 0x0000aa, 0x0000bb, 0x00cc00], 'all on the local canvas')
  const server = await serverPicture(srv.url)
  t.ok(server.seq >= res.seq)
  t.same([...server.rgb.subarray((2 * 64 + 2) * 3, (2 * 64 + 5) * 3)], [0, 0, 0xaa, 0, 0, 0xbb, 0, 0xcc, 0], 'and committed')
  t.equal(errors.length, 1, 'no other error')

  // moveCursor goes out the same way: its refusal is not the answer to the publish after it.
  t.equal(c.moveCursor(100, 1), true)
  t.type(await c.publish('chat:main', 'hi'), 'number', 'the publish after it was not refused')
  t.equal(errors.length, 2)
  t.match(errors[1], { code: 'OUT_OF_BOUNDS', message: /CURSOR/ }, 'the refused cursor is an error event')
})

t.test('heartbeat: false sends no pings (the server\'s heartbeat keeps the connection)', async (t) => {
  const srv = await listen(t, { ...SMALL, HEARTBEAT_MS: '200' })
  /** A `ws` socket that counts the heartbeat pings sent through it. */
  const counting = (count: { pings: number }) => class extends WebSocket {
    override send (data: any, ...rest: any[]): void {
      if (typeof data === 'string' && data.includes('"heartbeat"')) count.pings++
      super.send(data, ...rest)
    }
  }
  const withBeat = { pings: 0 }
  const without = { pings: 0 }
  const on = libClient(t, srv.wsUrl, { sub: 'on', role: 'viewer' }, { WebSocket: counting(withBeat) })
  const off = libClient(t, srv.wsUrl, { sub: 'off', role: 'viewer' }, { WebSocket: counting(without), heartbeat: false })
  const closes: number[] = []
  off.on('close', (code) => closes.push(code))
  await Promise.all([on.connect(), off.connect()])
  await until(on, () => withBeat.pings >= 5, 10_000, 'five pings from the default client')
  t.equal(without.pings, 0, 'none from the one without a heartbeat')
  t.equal(off.state, 'live', 'which is still connected')
  t.same(closes, [], 'and was never dropped')
})

/** The `ws` package's client, each instance kept (to look at the listeners the library left on it). */
const tracked = (sockets: WebSocket[]) => class extends WebSocket {
  constructor (...args: any[]) {
    super(...(args as [string]))
    sockets.push(this)
  }
}

/** The same client with `on` and `removeListener` hidden from the library: it reads through `onmessage`, as from a browser's socket. */
const withoutOn = (sockets: WebSocket[]) => function (...args: any[]) {
  const ws = new WebSocket(...(args as [string]))
  sockets.push(ws)
  return hidingOn(ws)
} as unknown as typeof WebSocket

t.test('on Node\'s ws, low-level mode reads the socket\'s message event (no onmessage); a cut resumes by replay, a kick (4403) closes for good, no listener left behind', async (t) => {
  const srv = await listen(t, SMALL)
  const raw = await rawPainter(t, srv)
  const px = await proxy(t, srv.port)
  const sockets: WebSocket[] = []
  const frames: Array<{ seq: number, count: number, first: number }> = []
  const c = libClient(t, `ws://127.0.0.1:${px.port}/ws`, { sub: 'node', role: 'viewer' }, {
    WebSocket: tracked(sockets),
    binaryType: 'nodebuffer',
    heartbeat: false,
    onUpdatesFrame: (frame, seq, count) => { frames.push({ seq, count, first: frame[13] }) }
  })
  const states: string[] = []
  const closes: number[] = []
  c.on('state', (s) => states.push(s))
  c.on('close', (code) => closes.push(code))
  await c.connect()
  const start = c.canvas.seq
  t.equal(sockets.length, 1)
  t.equal(sockets[0].listenerCount('message'), 1, 'one message listener: the library\'s')
  t.equal(sockets[0].onmessage, null, 'and no onmessage (no MessageEvent per frame)')

  const s1 = await drawAndSync(raw, [pixel(1, 2, 10, 20, 30), stroke([[3, 4, 40, 50, 60], [5, 6, 70, 80, 90]])])
  await until(c, () => c.canvas.seq >= s1, 5000, 'the first pixels')
  px.cut()
  const s2 = await drawAndSync(raw, [rect(10, 10, 3, 2, 1, 1, 1)])
  await until(c, () => c.state === 'live' && c.canvas.seq >= s2, 10_000, 'the resume')
  t.equal(closes[0], 1006, 'the cut: an abnormal close')
  t.ok(states.includes('reconnecting'), 'which reconnects')
  t.equal(c.hello!.resume, 'replay', 'resumed by replay')
  t.equal(sockets.length, 2)
  t.equal(sockets[0].listenerCount('message'), 0, 'the cut socket has no listener of the library left')
  t.equal(sockets[1].listenerCount('message'), 1, 'the new one has one')
  let seq = start
  let pixels = 0
  for (const f of frames) {
    t.equal(f.seq - f.count, seq, 'seq continues across the cut')
    seq = f.seq
    pixels += f.count
  }
  t.equal(seq, s2)
  t.equal(pixels, 3 + 6, 'every pixel once')
  t.equal(frames[0].first, 0, 'the frame is whole: its first record\'s x high byte')

  const closed = new Promise<number>((resolve) => c.on('close', (code) => resolve(code)))
  const res = await fetch(`${srv.url}/api/admin/connections/${c.hello!.connectionId}`, { method: 'DELETE', headers: { authorization: `Bearer ${token({ sub: 'root', role: 'admin' })}` } })
  t.equal(res.status, 204)
  t.equal(await closed, 4403, 'kicked')
  t.equal(c.state, 'closed', 'closed for good')
  t.equal(states.filter((s) => s === 'reconnecting').length, 1, 'no reconnect after the kick')
  t.equal(sockets[1].listenerCount('message'), 0, 'no listener left on the kicked socket')
  const before = frames.length
  await drawAndSync(raw, [pixel(0, 0, 1, 1, 1)])
  t.equal(frames.length, before, 'nothing more handed over')
})

t.test('without `on` (a browser\'s socket), low-level mode reads through onmessage: the same frames and resume', async (t) => {
  const srv = await listen(t, SMALL)
  const raw = await rawPainter(t, srv)
  const px = await proxy(t, srv.port)
  const sockets: WebSocket[] = []
  const frames: Array<{ seq: number, count: number }> = []
  const c = libClient(t, `ws://127.0.0.1:${px.port}/ws`, { sub: 'dom', role: 'viewer' }, {
    WebSocket: withoutOn(sockets),
    binaryType: 'nodebuffer',
    onUpdatesFrame: (_frame, seq, count) => { frames.push({ seq, count }) }
  })
  await c.connect()
  const start = c.canvas.seq
  t.equal(sockets[0].listenerCount('message'), 1, 'one message listener: ws\'s onmessage wrapper')
  t.type(sockets[0].onmessage, 'function', 'set through onmessage')
  const s1 = await drawAndSync(raw, [pixel(1, 2, 10, 20, 30)])
  await until(c, () => c.canvas.seq >= s1, 5000, 'the first pixel')
  px.cut()
  const s2 = await drawAndSync(raw, [rect(10, 10, 2, 2, 1, 1, 1)])
  await until(c, () => c.state === 'live' && c.canvas.seq >= s2, 10_000, 'the resume')
  t.equal(c.hello!.resume, 'replay')
  t.equal(sockets[0].onmessage, null, 'the cut socket\'s onmessage was taken off')
  let seq = start
  for (const f of frames) {
    t.equal(f.seq - f.count, seq, 'seq continues across the cut')
    seq = f.seq
  }
  t.equal(seq, s2)
})

t.test('low-level mode on Node\'s ws (nodebuffer): a draw is confirmed from the frames that show its pixels, then frames flow on', async (t) => {
  const srv = await listen(t, SMALL)
  const raw = await rawPainter(t, srv)
  let pixels = 0
  let last = -1
  const c = libClient(t, srv.wsUrl, { sub: 'lowdraw', role: 'admin' }, {
    binaryType: 'nodebuffer',
    heartbeat: false,
    onUpdatesFrame: (_frame, seq, count) => { pixels += count; last = seq }
  })
  await c.connect()
  const res = await c.drawPixels([{ x: 7, y: 7, color: 0xabcdef }, { x: 8, y: 7, color: 0x123456 }])
  t.ok(res.seq >= c.hello!.canvas.seq + 2, 'confirmed at a seq after its pixels')
  t.equal(pixels, 2, 'its two pixels came in the frames handed over')
  const server = await serverPicture(srv.url)
  t.same([...server.rgb.subarray((7 * 64 + 7) * 3, (7 * 64 + 9) * 3)], [0xab, 0xcd, 0xef, 0x12, 0x34, 0x56], 'committed')
  const s = await drawAndSync(raw, [pixel(1, 1, 1, 2, 3)])
  await until(c, () => last >= s, 5000, 'the next frame')
  t.equal(pixels, 3, 'and frames go on after it')
  t.equal(c.canvas.seq, s)
})
