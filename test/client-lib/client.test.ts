// pixelwire/client against the real server over real sockets: connecting
// with a token three ways, a local canvas equal to the server's picture,
// draws settled by the commit barrier, refusals, the local budget that
// avoids RATE_LIMITED, token renewal in-band and by reconnecting (4401),
// and a dropped network: canvas and stream resumed with no gap.
import t from 'tap'
import { PixelwireError, type DrawResult } from '../../src/client-lib/index.js'
import { listen, token, isType, pixel, rect, stroke, type Listening } from '../helper.js'
import { drawAndSync, libClient, proxy, rawPainter, serverPicture, until } from './helper.js'

const SMALL = { TICK_MS: '20', DEFAULT_CANVAS_WIDTH: '64', DEFAULT_CANVAS_HEIGHT: '48' }

/** `reason="CODE"` pixel refusals in /metrics (0 when the series is absent). */
async function rejected (srv: Listening, code: string): Promise<number> {
  const text = await (await fetch(`${srv.url}/metrics`)).text()
  const m = new RegExp(`^pixelwire_pixels_rejected_total\\{reason="${code}"\\} (\\d+)`, 'm').exec(text)
  return m === null ? 0 : Number(m[1])
}

t.test('connects with a token as header, subprotocol or query; its canvas is the server\'s picture', async (t) => {
  const srv = await listen(t, SMALL)
  const raw = await rawPainter(t, srv)
  await drawAndSync(raw, [rect(0, 0, 10, 5, 200, 10, 10), stroke([[63, 47, 1, 2, 3], [62, 47, 4, 5, 6]])])

  const clients = (['header', 'subprotocol', 'query'] as const).map((auth) => libClient(t, srv.wsUrl, { sub: auth, name: `N-${auth}` }, { auth }))
  await Promise.all(clients.map((c) => c.connect()))
  t.same(clients.map((c) => c.hello?.user.id), ['header', 'subprotocol', 'query'], 'each was known by its token')
  t.same(clients.map((c) => c.state), ['live', 'live', 'live'])

  // More changes after the snapshot arrive as UPDATES.
  const seq = await drawAndSync(raw, [pixel(30, 20, 9, 8, 7), rect(5, 30, 20, 10, 0, 100, 0)])
  for (const c of clients) await until(c, () => c.canvas.seq >= seq, 5000, 'the updates')
  const server = await serverPicture(srv.url)
  for (const c of clients) {
    t.equal(c.canvas.seq, server.seq, 'at the seq of snapshot.png')
    t.equal(c.canvas.epoch, server.epoch)
    t.ok(Buffer.from(c.canvas.rgb).equals(server.rgb), 'every pixel equals snapshot.png')
  }
  const px = await (await fetch(`${srv.url}/api/canvases/main/pixels/30/20`)).json() as { color: string }
  t.equal(clients[0].canvas.pixel(30, 20), 0x090807)
  t.equal(px.color, '#090807', 'and the pixel API agrees')
})

t.test('a draw settles once the commit barrier confirms it: committed, and on the local canvas', async (t) => {
  const srv = await listen(t, SMALL)
  const c = libClient(t, srv.wsUrl, { sub: 'p' })
  await c.connect()
  const results = await Promise.all([
    c.draw(1, 1, 0x112233),
    c.drawPixels([{ x: 2, y: 1, color: 0x445566 }, { x: 3, y: 1, color: 0x778899 }]),
    c.drawRect(10, 10, 3, 2, 0xabcdef)
  ])
  const check: Array<[number, number, number, DrawResult]> = [
    [1, 1, 0x112233, results[0]], [3, 1, 0x778899, results[1]], [12, 11, 0xabcdef, results[2]]
  ]
  for (const [x, y, color, res] of check) {
    const stored = srv.app.canvasStore.pixelAt('main', x, y)
    t.ok(stored !== undefined && stored.seq <= res.seq, `(${x},${y}) committed at ${stored?.seq}, at or before the confirmed seq ${res.seq}`)
    t.equal(stored?.color, color, 'with its colour')
    t.equal(c.canvas.pixel(x, y), color, 'and shown on the local canvas')
  }
  t.equal(c.unsettledPixels, 0, 'nothing left in the queue')
})

t.test('refusals reject with the server\'s code; the local budget avoids RATE_LIMITED', async (t) => {
  const srv = await listen(t, { ...SMALL, PIXEL_RATE: '40', PIXEL_BURST: '8' })
  const p = libClient(t, srv.wsUrl, { sub: 'p' }, { maxQueuedPixels: 100 })
  const v = libClient(t, srv.wsUrl, { sub: 'v', role: 'viewer' })
  await Promise.all([p.connect(), v.connect()])
  const errors: PixelwireError[] = []
  p.on('error', (e) => errors.push(e))

  await t.rejects(p.draw(64, 0, 0xff0000), { name: 'PixelwireError', code: 'OUT_OF_BOUNDS', message: /outside the 64x48 canvas/ })
  await t.rejects(v.draw(1, 1, 0xff0000), { code: 'FORBIDDEN' }, 'a viewer may not draw')
  await t.rejects(p.drawPixels(Array.from({ length: 101 }, (_, i) => ({ x: i % 64, y: 0, color: 1 }))), { code: 'QUEUE_FULL' }, 'past maxQueuedPixels')
  await t.rejects(p.draw(70000, 0, 1), RangeError, 'what cannot be encoded is the caller\'s bug')

  // 40 single pixels and a 5×4 rect (more than the burst of 8: split): 60
  // pixels on a budget of 8 + 40/s, all confirmed, none refused.
  const draws: Array<Promise<DrawResult>> = []
  for (let i = 0; i < 40; i++) draws.push(p.draw(i, 20, 0x010000 * (i + 1)))
  draws.push(p.drawRect(50, 40, 5, 4, 0x00ff00))
  const results = await Promise.all(draws)
  t.equal(results.length, 41, 'every draw confirmed')
  t.equal(await rejected(srv, 'RATE_LIMITED'), 0, 'the server refused no pixel for the rate')
  t.equal(await rejected(srv, 'OUT_OF_BOUNDS'), 1, 'the metric counts refusals (the out-of-bounds one)')
  t.same(errors, [], 'no error the client could not attribute')
  const server = await serverPicture(srv.url)
  t.ok(Buffer.from(p.canvas.rgb).equals(server.rgb), 'the local canvas equals snapshot.png')
  for (let i = 0; i < 40; i++) t.equal(p.canvas.pixel(i, 20), 0x010000 * (i + 1))
})

t.test('token renewal in-band keeps the connection past the first token\'s exp', async (t) => {
  const srv = await listen(t, { ...SMALL, TOKEN_GRACE_MS: '0' })
  let asked = 0
  const c = libClient(t, srv.wsUrl, {}, { getToken: () => { asked++; return token({ sub: 'r' }, { ttlSec: 4 }) } })
  const closes: number[] = []
  c.on('close', (code) => closes.push(code))
  await c.connect()
  const id = c.hello?.connectionId
  // Two renewals: the second token was accepted and replaced in turn.
  await until(c, () => asked >= 3, 15_000, 'two renewals')
  await new Promise((resolve) => setTimeout(resolve, 1500)) // past the first token's exp and the server's once-a-second check
  t.same(closes, [], 'never closed (a 4401 would have come a second after the first exp)')
  t.equal(c.hello?.connectionId, id, 'the same connection')
  await c.draw(5, 5, 0x123456)
  t.pass('and it still draws')
})

t.test('without renewal a 4401 brings a new token and a resume, not a snapshot', async (t) => {
  const srv = await listen(t, { ...SMALL, TOKEN_GRACE_MS: '0' })
  let asked = 0
  const c = libClient(t, srv.wsUrl, {}, { renew: false, getToken: () => { asked++; return token({ sub: 'r' }, { ttlSec: 2 }) } })
  const closes: number[] = []
  c.on('close', (code) => closes.push(code))
  await c.connect()
  const first = c.hello?.connectionId
  await until(c, () => closes.length > 0 && c.state === 'live' && c.hello?.connectionId !== first, 15_000, 'a new connection')
  t.equal(closes[0], 4401, 'the server closed the expired one with 4401')
  t.ok(asked >= 2, 'a new token was asked for')
  t.equal(c.hello?.resume, 'replay', 'the new connection resumed with since+epoch')
})

t.test('a dropped network: the canvas and a stream resume with no gap and no duplicate', async (t) => {
  const srv = await listen(t, SMALL)
  const px = await proxy(t, srv.port)
  const c = libClient(t, `ws://127.0.0.1:${px.port}/ws`, { sub: 'c' })
  const raw = await rawPainter(t, srv)
  const got: Array<{ offset: number, data: unknown }> = []
  const subscribed: Array<{ recovered?: boolean }> = []
  let gaps = 0
  let last = -1
  c.on('message', (m) => got.push({ offset: m.offset, data: m.data }))
  c.on('subscribed', (s) => subscribed.push(s))
  c.on('snapshot', (canvas) => { last = canvas.seq })
  c.on('updates', (u) => { if (u.seq - u.count !== last) gaps++; last = u.seq })
  await c.connect()
  await c.subscribe('chat:main')
  const publish = async (data: unknown) => {
    raw.send(JSON.stringify({ type: 'publish', stream: 'chat:main', data }))
    await raw.next(isType('published'))
  }
  await publish(1)
  await publish(2)
  await until(c, () => got.length === 2, 5000, 'the first messages')
  await drawAndSync(raw, [rect(0, 0, 4, 4, 1, 1, 1)])

  px.cut()
  // While the client is away: messages, pixels, and a draw of its own (queued).
  await publish(3)
  await publish(4)
  const mine = c.draw(40, 40, 0xfedcba)
  const seq = await drawAndSync(raw, [rect(10, 10, 8, 8, 2, 2, 2), pixel(63, 0, 3, 3, 3)])
  await publish(5)

  const res = await mine
  await until(c, () => got.length >= 5 && c.canvas.seq >= seq, 10_000, 'the resume')
  t.same(got.map((m) => m.data), [1, 2, 3, 4, 5], 'every message once, in order')
  t.ok(got.every((m, i) => i === 0 || m.offset > got[i - 1].offset), 'offsets grow')
  t.match(subscribed.at(-1), { recovered: true }, 'the resubscription recovered the missed messages')
  t.equal(c.hello?.resume, 'replay', 'the canvas resumed by replay')
  t.equal(gaps, 0, 'UPDATES continued seq to seq across the drop')
  t.ok(res.seq > 0, `the draw made while away was confirmed (at seq ${res.seq})`)
  const server = await serverPicture(srv.url)
  t.ok(Buffer.from(c.canvas.rgb).equals(server.rgb), 'the local canvas equals snapshot.png')
  t.equal(c.canvas.pixel(40, 40), 0xfedcba)
})
