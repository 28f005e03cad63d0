// pixelwire/client's less travelled paths against the real server: publish,
// unsubscribe and refused requests, refusals the local budget cannot avoid
// (a second connection of the same user) waited out, a kick (no reconnect),
// a server shutting down (1001), a silent network (heartbeat), a refused
// renewal, a getToken that fails once, and presence.
import t from 'tap'
import { PixelwireClient, PixelwireError, type ClientState, type DrawResult } from '../../src/client-lib/index.js'
import { listen, token, TestClient, isHello, isSnapshot, collect, rect } from '../helper.js'
import { libClient, proxy, serverPicture, until } from './helper.js'

const SMALL = { TICK_MS: '20', DEFAULT_CANVAS_WIDTH: '64', DEFAULT_CANVAS_HEIGHT: '48' }
const admin = { authorization: `Bearer ${token({ sub: 'root', role: 'admin' })}` }

t.test('publish, own messages, unsubscribe; refused subscribe and publish; presence', async (t) => {
  const srv = await listen(t, { ...SMALL, PRESENCE_MS: '0' })
  const c = libClient(t, srv.wsUrl, { sub: 'a', name: 'Ann' })
  const v = libClient(t, srv.wsUrl, { sub: 'v', role: 'viewer' })
  await t.rejects(c.publish('chat:main', 1), { code: 'NOT_LIVE' }, 'not before it is live')
  const presence: unknown[] = []
  c.on('presence', (p) => presence.push(p))
  await Promise.all([c.connect(), v.connect()])
  const got: unknown[] = []
  c.on('message', (m) => got.push(m.data))
  t.match(await c.subscribe('chat:main'), { offset: Number })
  const offset = await c.publish('chat:main', { hi: 1 })
  t.ok(offset > 0, 'published at an offset')
  await until(c, () => got.length === 1, 5000, 'its own message')
  t.same(got, [{ hi: 1 }])
  await t.rejects(c.subscribe('nope:x'), { code: 'UNKNOWN_STREAM' })
  await t.rejects(v.publish('chat:main', 'x'), { code: 'FORBIDDEN' }, 'a viewer may not chat')
  await t.rejects(c.drawRect(0, 0, 0, 1, 1), RangeError, 'an empty rectangle')
  c.unsubscribe('chat:main')
  c.unsubscribe('chat:main') // twice: nothing more
  await v.subscribe('chat:main')
  const vgot: unknown[] = []
  v.on('message', (m) => vgot.push(m.data))
  const raw = new TestClient(srv.wsUrl, { token: token({ sub: 'r' }) })
  t.teardown(() => raw.close())
  await raw.opened
  raw.send(JSON.stringify({ type: 'publish', stream: 'chat:main', data: 2 }))
  await until(v, () => vgot.length === 1, 5000, 'the viewer got it')
  t.same(got, [{ hi: 1 }], 'the unsubscribed client did not')
  await until(c, () => presence.length > 0, 5000, 'a presence message')
  t.match(presence[0], { type: 'presence', canvas: 'main' })
})

t.test('a second connection of the same user: RATE_LIMITED answers are waited out, every draw confirmed', async (t) => {
  const srv = await listen(t, { ...SMALL, PIXEL_RATE: '50', PIXEL_BURST: '6' })
  const a = libClient(t, srv.wsUrl, { sub: 'same' })
  const b = libClient(t, srv.wsUrl, { sub: 'same' })
  await Promise.all([a.connect(), b.connect()])
  const draws: Array<Promise<DrawResult>> = []
  for (let i = 0; i < 20; i++) draws.push(a.draw(i, 1, 0xaa0000 + i), b.draw(i, 2, 0x00aa00 + i))
  draws.push(a.drawRect(0, 10, 20, 2, 0x0000aa)) // wider than the burst: split into pieces of a row
  await Promise.all(draws)
  const text = await (await fetch(`${srv.url}/metrics`)).text()
  t.match(text, /^pixelwire_pixels_rejected_total\{reason="RATE_LIMITED"\} [1-9]/m, 'the server did refuse some (the budget is shared)')
  const server = await serverPicture(srv.url)
  await until(a, () => a.canvas.seq >= server.seq, 5000, 'caught up')
  for (let i = 0; i < 20; i++) {
    t.equal(a.canvas.pixel(i, 1), 0xaa0000 + i)
    t.equal(a.canvas.pixel(i, 2), 0x00aa00 + i)
    t.equal(a.canvas.pixel(i, 11), 0x0000aa)
  }
})

t.test('kicked (4403): closed for good, later draws refused CLOSED', async (t) => {
  const srv = await listen(t, SMALL)
  const c = libClient(t, srv.wsUrl, { sub: 'k' })
  const states: ClientState[] = []
  c.on('state', (s) => states.push(s))
  await c.connect()
  const closed = new Promise<number>((resolve) => c.on('close', (code) => resolve(code)))
  const res = await fetch(`${srv.url}/api/admin/connections/${c.hello!.connectionId}`, { method: 'DELETE', headers: admin })
  t.equal(res.status, 204)
  t.equal(await closed, 4403)
  t.equal(c.state, 'closed')
  t.notOk(states.includes('reconnecting'), 'no reconnect')
  await t.rejects(c.draw(1, 1, 1), { code: 'CLOSED' })
})

t.test('a server shutting down (1001): reconnecting after 250–1250 ms', async (t) => {
  const srv = await listen(t, SMALL)
  const c = libClient(t, srv.wsUrl, { sub: 's' })
  await c.connect()
  const next = new Promise<{ state: ClientState, delayMs?: number, code?: number }>((resolve) => {
    c.on('state', (state, d) => { if (state === 'reconnecting') resolve({ state, ...d }) })
  })
  await srv.app.close()
  const r = await next
  t.equal(r.code, 1001)
  t.ok(r.delayMs !== undefined && r.delayMs >= 250 && r.delayMs <= 1250, `waits ${r.delayMs} ms`)
  c.close()
})

t.test('a silent network: the heartbeat gives up on the socket and the client resumes', async (t) => {
  const srv = await listen(t, { ...SMALL, HEARTBEAT_MS: '500' })
  const px = await proxy(t, srv.port)
  const c = libClient(t, `ws://127.0.0.1:${px.port}/ws`, { sub: 'h' })
  const closes: number[] = []
  c.on('close', (code) => closes.push(code))
  await c.connect()
  const first = c.hello!.connectionId
  px.freeze()
  await until(c, () => closes.length > 0 && c.state === 'live', 20_000, 'a new connection')
  t.equal(closes[0], 4012, 'given up as a heartbeat timeout')
  t.not(c.hello!.connectionId, first)
  t.equal(c.hello!.resume, 'replay')
})

t.test('a refused renewal is an error event; a getToken that fails once is retried', async (t) => {
  const srv = await listen(t, SMALL)
  let asked = 0
  const c = libClient(t, srv.wsUrl, {}, {
    getToken: () => {
      asked++
      if (asked === 1) throw new Error('token service down')
      return token({ sub: asked === 2 ? 'one' : 'another' }, { ttlSec: 3 })
    }
  })
  const errors: PixelwireError[] = []
  c.on('error', (e) => errors.push(e))
  await c.connect()
  t.match(errors[0], { code: 'CLIENT', message: /token service down/ })
  t.equal(c.hello?.user.id, 'one')
  await until(c, () => errors.length >= 2, 10_000, 'the renewal answer')
  t.match(errors[1], { code: 'FORBIDDEN', message: /token renewal refused: .*another sub/ })
})

t.test('no WebSocket: a clear TypeError', async (t) => {
  const g = globalThis as { WebSocket?: unknown }
  const saved = g.WebSocket
  delete g.WebSocket
  t.teardown(() => { if (saved !== undefined) g.WebSocket = saved })
  t.throws(() => new PixelwireClient({ url: 'ws://127.0.0.1:1/ws' }), TypeError)
})

t.test('a raw client sees the library\'s draws like any other; canvas broadcasts arrive as events', async (t) => {
  const srv = await listen(t, SMALL)
  const w = new TestClient(srv.wsUrl, { token: token({ sub: 'w', role: 'viewer' }) })
  t.teardown(() => w.close())
  await w.opened
  await w.next(isHello)
  await w.next(isSnapshot)
  const c = libClient(t, srv.wsUrl, { sub: 'p' })
  await c.connect()
  const r = await c.drawPixels([{ x: 1, y: 1, color: 0x010203 }, { x: 2, y: 1, color: 0x040506 }])
  t.equal(r.seq, 2)
  const seen = await collect(w, 2)
  t.same(seen.px, [[1, 1, 1, 2, 3], [2, 1, 4, 5, 6]], 'one PIXELS op, in order')
  const got = new Promise((resolve) => c.on('broadcast', resolve))
  const res = await fetch(`${srv.url}/api/admin/broadcast`, { method: 'POST', headers: { ...admin, 'content-type': 'application/json' }, body: JSON.stringify({ canvas: 'main', data: { note: 'hi' } }) })
  t.equal(res.status, 200)
  t.match(await got, { type: 'broadcast', canvas: 'main', data: { note: 'hi' } })
})

t.test('a big stroke goes out in ops the budget allows; one refused op rejects the draw', async (t) => {
  const srv = await listen(t, { ...SMALL, PIXEL_RATE: '200', PIXEL_BURST: '16' })
  const c = libClient(t, srv.wsUrl, { sub: 'big' })
  await c.connect()
  const row = Array.from({ length: 50 }, (_, x) => ({ x, y: 3, color: 0x300000 + x }))
  await c.drawPixels(row)
  for (const p of row) t.equal(srv.app.canvasStore.pixelAt('main', p.x, p.y)?.color, p.color)
  // 16 good pixels, then one outside the canvas in the second op, then 30 more.
  const bad = [...Array.from({ length: 20 }, (_, x) => ({ x, y: 5, color: 1 })), { x: 64, y: 5, color: 1 }, ...Array.from({ length: 30 }, (_, x) => ({ x, y: 6, color: 1 }))]
  await t.rejects(c.drawPixels(bad), { code: 'OUT_OF_BOUNDS' })
  await c.draw(63, 47, 2) // a later draw still goes, and the barrier after it has seen everything before
  t.equal(srv.app.canvasStore.pixelAt('main', 0, 5)?.color, 1, 'the op before the refused one was committed (no rollback)')
  t.equal(srv.app.canvasStore.pixelAt('main', 0, 6), undefined, 'the refused op (the bad pixel and the start of the next row) was not applied')
  t.equal(c.unsettledPixels, 0)
})

t.test('after a SNAPSHOT resume, a draw whose answer was lost is confirmed from the picture, not painted twice', async (t) => {
  const srv = await listen(t, { ...SMALL, MAX_REPLAY: '10' })
  const px = await proxy(t, srv.port)
  const c = libClient(t, `ws://127.0.0.1:${px.port}/ws`, { sub: 'lost' })
  const raw = new TestClient(srv.wsUrl, { token: token({ sub: 'r' }) })
  t.teardown(() => raw.close())
  await Promise.all([c.connect(), raw.opened])
  px.freeze('down') // the draw reaches the server; nothing comes back
  const mine = c.draw(7, 7, 0x777777)
  await until(c, () => srv.app.canvasStore.pixelAt('main', 7, 7) !== undefined, 5000, 'committed on the server')
  const committedAt = srv.app.canvasStore.pixelAt('main', 7, 7)!.seq
  raw.send(rect(20, 20, 10, 10, 9, 9, 9)) // 100 changes: more than MAX_REPLAY behind
  await until(c, () => (srv.app.canvasStore.pixelAt('main', 29, 29)?.seq ?? 0) > committedAt, 5000, 'the others committed')
  px.cut()
  const r = await mine
  t.equal(c.hello?.resume, 'snapshot', 'resumed by a SNAPSHOT')
  t.ok(r.seq >= committedAt, `confirmed at ${r.seq}`)
  t.equal(srv.app.canvasStore.pixelAt('main', 7, 7)?.seq, committedAt, 'not sent again: its only change is the first')
})
