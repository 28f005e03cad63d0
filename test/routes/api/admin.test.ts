// The admin API (contract §7) over inject and real sockets: the one role
// check, connections, kick, broadcast, streams, canvases and fill.
import t from 'tap'
import Fastify, { type HTTPMethods, type RouteOptions } from 'fastify'
import app, { serverOptions } from '../../../src/app.js'
import { loadConfig } from '../../../src/config.js'
import { build, listen, token, tempDir, SECRET, TestClient, isHello, isSnapshot, collect, type Listening } from '../../helper.js'
import { asAdmin, bearer, isType, join } from './helper.js'

const SMALL = { DEFAULT_CANVAS_WIDTH: '16', DEFAULT_CANVAS_HEIGHT: '16' }
const ISO = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/

t.test('every /api/admin route: 401 without or with a bad token, 403 for other roles', async (t) => {
  const config = loadConfig({ JWT_SECRET: SECRET, LOG_LEVEL: 'silent', DATA_DIR: tempDir(t) })
  const server = Fastify(serverOptions(config))
  const routes: RouteOptions[] = []
  server.addHook('onRoute', (route) => { if (route.url.startsWith('/api/admin')) routes.push(route) })
  await server.register(app, { config })
  await server.ready()
  t.teardown(() => server.close())
  t.ok(routes.length >= 7, `found the admin routes (${routes.length})`)

  const cases: Array<[string, Record<string, string>, number, string]> = [
    ['no header', {}, 401, 'TOKEN_REQUIRED'],
    ['another scheme', { authorization: 'Basic cm9vdDpyb290' }, 401, 'TOKEN_REQUIRED'],
    ['a bad signature', { authorization: `Bearer ${token({ role: 'admin' }, { secret: 'x'.repeat(40) })}` }, 401, 'INVALID_TOKEN'],
    ['garbage', { authorization: 'Bearer not.a.jwt' }, 401, 'INVALID_TOKEN'],
    ['an expired admin token', { authorization: `Bearer ${token({ role: 'admin' }, { ttlSec: -60 })}` }, 401, 'TOKEN_EXPIRED'],
    ['a painter', bearer({ role: 'painter' }), 403, 'FORBIDDEN'],
    ['a viewer', bearer({ role: 'viewer' }), 403, 'FORBIDDEN']
  ]
  for (const route of routes) {
    for (const method of ([] as HTTPMethods[]).concat(route.method)) {
      const url = route.url.replace(':id', 'main')
      for (const [what, headers, status, code] of cases) {
        // A body that would be invalid: the role check must come before validation.
        const res = await server.inject({ method, url, headers, payload: method === 'GET' || method === 'HEAD' ? undefined : {} })
        t.equal(res.statusCode, status, `${method} ${route.url}, ${what}: ${status}`)
        if (method !== 'HEAD') t.equal(res.json().error, code, `${method} ${route.url}, ${what}: ${code}`)
        if (status === 401) t.equal(res.headers['www-authenticate'], 'Bearer', `${method} ${route.url}: a 401 names its scheme`)
      }
    }
  }
  // The same check does not reach public routes.
  t.equal((await server.inject({ url: '/api/canvases', headers: bearer({ role: 'viewer' }) })).statusCode, 200)
})

async function subscribe (c: TestClient, stream: string): Promise<number> {
  c.send(JSON.stringify({ type: 'subscribe', stream }))
  return (await c.next(isType('subscribed'))).json.offset
}

t.test('connections: list with every field, filters, one, 404 and 400', async (t) => {
  const srv = await listen(t, SMALL)
  const admin = (url: string) => srv.app.inject({ url, headers: asAdmin })
  t.equal((await admin('/api/admin/canvases')).statusCode, 404, 'no GET on the create route')
  const created = await srv.app.inject({ method: 'POST', url: '/api/admin/canvases', headers: asAdmin, payload: { id: 'side', width: 4, height: 4 } })
  t.equal(created.statusCode, 201)

  const { c: a, id: aid } = await join(srv, { sub: 'alice', name: 'Alice', role: 'painter' })
  const { c: b, id: bid } = await join(srv, { sub: 'bob', name: 'Bob', role: 'viewer' }, 'side')
  const { c: a2, id: a2id } = await join(srv, { sub: 'alice', name: 'Alice', role: 'painter' }, 'side')
  t.teardown(() => { a.close(); b.close(); a2.close() })
  await subscribe(b, 'chat:lobby')
  await subscribe(b, 'alerts:ops')

  const list = await admin('/api/admin/connections')
  t.equal(list.statusCode, 200)
  const all = list.json()
  t.same(all.map((c: { id: number }) => c.id), [aid, bid, a2id], 'in the order they connected')
  const bv = all[1]
  t.same(Object.keys(bv).sort(), ['bufferedBytes', 'bytesOut', 'canvas', 'connectedAt', 'id', 'ip', 'messagesIn', 'messagesOut', 'node', 'role', 'streams', 'user'])
  t.match(bv, {
    id: bid,
    user: { id: 'bob', name: 'Bob', role: 'viewer' },
    role: 'viewer',
    canvas: 'side',
    streams: ['alerts:ops', 'chat:lobby'],
    ip: '127.0.0.1',
    connectedAt: ISO,
    messagesIn: 2,
    bufferedBytes: 0
  })
  // hello, snapshot and two subscribed confirmations at least (the roster may still be on its way)
  t.ok(bv.messagesOut >= 4, `messagesOut counts what was sent (${bv.messagesOut})`)
  t.ok(bv.bytesOut > 100, `bytesOut counts what was sent (${bv.bytesOut})`)
  t.same(all[0].streams, [], 'the canvas subscription is not a stream')

  t.same((await admin('/api/admin/connections?canvas=side')).json().map((c: { id: number }) => c.id), [bid, a2id])
  t.same((await admin('/api/admin/connections?user=alice')).json().map((c: { id: number }) => c.id), [aid, a2id])
  t.same((await admin('/api/admin/connections?user=alice&canvas=side')).json().map((c: { id: number }) => c.id), [a2id])
  t.same((await admin('/api/admin/connections?user=nobody')).json(), [])

  const one = await admin(`/api/admin/connections/${bid}`)
  t.equal(one.statusCode, 200)
  t.same(one.json(), (await admin(`/api/admin/connections/${bid}`)).json())
  t.equal(one.json().id, bid)

  const missing = await admin('/api/admin/connections/999999')
  t.equal(missing.statusCode, 404)
  t.match(missing.json(), { error: 'CONNECTION_NOT_FOUND', message: String })
  for (const bad of ['/api/admin/connections/abc', '/api/admin/connections/0', '/api/admin/connections?canvas=Bad!', '/api/admin/connections?user=']) {
    const res = await admin(bad)
    t.equal(res.statusCode, 400, `${bad}: 400`)
    t.equal(res.json().error, 'BAD_REQUEST', `${bad}: BAD_REQUEST`)
  }
})

t.test('kick: DELETE closes the socket with 4403, then the connection is gone', async (t) => {
  const srv = await listen(t, SMALL)
  const { c, id } = await join(srv, { sub: 'mallory' })
  const { c: other } = await join(srv, { sub: 'ok' })
  t.teardown(() => other.close())
  const res = await srv.app.inject({ method: 'DELETE', url: `/api/admin/connections/${id}`, headers: asAdmin })
  t.equal(res.statusCode, 204)
  t.equal(res.body, '')
  const closed = await c.closed
  t.equal(closed.code, 4403)
  t.ok(closed.reason.length > 0 && closed.reason.length < 123, `a short reason: ${closed.reason}`)
  t.equal((await srv.app.inject({ url: `/api/admin/connections/${id}`, headers: asAdmin })).statusCode, 404)
  t.equal((await srv.app.inject({ method: 'DELETE', url: `/api/admin/connections/${id}`, headers: asAdmin })).statusCode, 404, 'kicking twice: 404')
  t.equal(other.ws.readyState, other.ws.OPEN, 'nobody else was closed')
})

async function broadcast (srv: Listening, payload: unknown) {
  return srv.app.inject({ method: 'POST', url: '/api/admin/broadcast', headers: asAdmin, payload: payload as object })
}

t.test('broadcast to a stream, a canvas, a user: each answers delivered', async (t) => {
  const srv = await listen(t, SMALL)
  await srv.app.inject({ method: 'POST', url: '/api/admin/canvases', headers: asAdmin, payload: { id: 'side', width: 4, height: 4 } })
  const { c: a } = await join(srv, { sub: 'alice' })
  const { c: a2 } = await join(srv, { sub: 'alice' }, 'side')
  const { c: b } = await join(srv, { sub: 'bob', role: 'viewer' })
  t.teardown(() => { a.close(); a2.close(); b.close() })
  const offset = await subscribe(a, 'alerts:ops')
  await subscribe(b, 'alerts:ops')

  const s = await broadcast(srv, { stream: 'alerts:ops', data: { level: 'warn', text: 'restart at 5' } })
  t.equal(s.statusCode, 200)
  t.same(s.json(), { delivered: 2, offset: offset + 1 })
  const expected = { type: 'message', stream: 'alerts:ops', offset: offset + 1, data: { level: 'warn', text: 'restart at 5' } }
  t.same((await a.next(isType('message'))).json, expected)
  t.same((await b.next(isType('message'))).json, expected)
  t.ok(await a2.nothing(isType('message')), 'not subscribed: nothing')

  const cv = await broadcast(srv, { canvas: 'main', data: 'hello main' })
  t.same(cv.json(), { delivered: 2 })
  t.same((await a.next(isType('broadcast'))).json, { type: 'broadcast', canvas: 'main', data: 'hello main' })
  t.same((await b.next(isType('broadcast'))).json, { type: 'broadcast', canvas: 'main', data: 'hello main' })
  t.ok(await a2.nothing(isType('broadcast')), 'another canvas: nothing')

  const u = await broadcast(srv, { user: 'alice', data: [1, 2, 3] })
  t.same(u.json(), { delivered: 2 })
  t.same((await a.next(isType('broadcast'))).json, { type: 'broadcast', user: 'alice', data: [1, 2, 3] })
  t.same((await a2.next(isType('broadcast'))).json, { type: 'broadcast', user: 'alice', data: [1, 2, 3] })
  t.ok(await b.nothing(isType('broadcast')), 'another user: nothing')

  t.same((await broadcast(srv, { user: 'nobody', data: 1 })).json(), { delivered: 0 }, 'a user with no connection: 0')
  t.same((await broadcast(srv, { stream: 'alerts:empty', data: 1 })).json().delivered, 0, 'a stream with no subscriber: 0')
  t.same((await broadcast(srv, { stream: 'chat:lobby', data: 'admins may post to chat' })).json().delivered, 0)
})

t.test('broadcast errors: target count, size, unknown stream, bad JSON', async (t) => {
  const { app } = await build(t, SMALL)
  const post = (payload: unknown, headers: Record<string, string> = {}) =>
    app.inject({ method: 'POST', url: '/api/admin/broadcast', headers: { ...asAdmin, ...headers }, payload: payload as string })
  for (const body of [{ data: 1 }, { stream: 'alerts:a', canvas: 'main', data: 1 }, { canvas: 'main', user: 'u', data: 1 }]) {
    const res = await post(body)
    t.equal(res.statusCode, 400, `${JSON.stringify(body)}: 400`)
    t.match(res.json(), { error: 'BAD_REQUEST', message: /exactly one of stream, canvas, user/ })
  }
  const big = await post({ stream: 'alerts:a', data: 'x'.repeat(64 * 1024) })
  t.equal(big.statusCode, 413)
  t.equal(big.json().error, 'TOO_LARGE')
  const huge = await post(JSON.stringify({ stream: 'alerts:a', data: 'x'.repeat(200 * 1024) }), { 'content-type': 'application/json' })
  t.equal(huge.statusCode, 413, 'over the body limit: 413 before parsing')
  t.equal(huge.json().error, 'TOO_LARGE')
  const unknown = await post({ stream: 'nope:x', data: 1 })
  t.equal(unknown.statusCode, 404)
  t.equal(unknown.json().error, 'UNKNOWN_STREAM')
  const badName = await post({ stream: 'alerts', data: 1 })
  t.equal(badName.statusCode, 404, 'a stream name without a namespace')
  const noCanvas = await post({ canvas: 'nope', data: 1 })
  t.equal(noCanvas.statusCode, 404)
  t.equal(noCanvas.json().error, 'CANVAS_NOT_FOUND')
  const broken = await post('{"stream":', { 'content-type': 'application/json' })
  t.equal(broken.statusCode, 400)
  t.equal(broken.json().error, 'BAD_REQUEST')
  const proto = await post('{"stream":"alerts:a","data":1,"__proto__":{"x":1}}', { 'content-type': 'application/json' })
  t.equal(proto.statusCode, 400, 'prototype poisoning is refused')
})

t.test('streams: subscriber counts per stream', async (t) => {
  const srv = await listen(t, SMALL)
  const { c: a } = await join(srv, { sub: 'a' })
  const { c: b } = await join(srv, { sub: 'b' })
  t.teardown(() => { a.close(); b.close() })
  await subscribe(a, 'chat:lobby')
  await subscribe(b, 'chat:lobby')
  await subscribe(b, 'alerts:ops')
  a.send(JSON.stringify({ type: 'publish', stream: 'chat:lobby', data: 'hi' }))
  await a.next(isType('published'))
  const res = await srv.app.inject({ url: '/api/admin/streams', headers: asAdmin })
  t.equal(res.statusCode, 200)
  const by = Object.fromEntries(res.json().map((s: { stream: string }) => [s.stream, s]))
  t.match(by['chat:lobby'], { stream: 'chat:lobby', subscribers: 2, held: 1, offset: Number })
  t.match(by['alerts:ops'], { stream: 'alerts:ops', subscribers: 1, held: 0 })
  b.close()
  await b.closed
  const after = await srv.app.inject({ url: '/api/admin/streams', headers: asAdmin })
  const byAfter = Object.fromEntries(after.json().map((s: { stream: string, subscribers: number }) => [s.stream, s.subscribers]))
  t.equal(byAfter['chat:lobby'], 1, 'a closed connection no longer counts')
})

t.test('create canvas: 201 with Location, joinable; 409 on a taken id; 400 on bad input', async (t) => {
  const srv = await listen(t, SMALL)
  const create = (payload: unknown) => srv.app.inject({ method: 'POST', url: '/api/admin/canvases', headers: asAdmin, payload: payload as object })
  const res = await create({ id: 'new-1', width: 8, height: 4 })
  t.equal(res.statusCode, 201)
  t.equal(res.headers.location, '/api/canvases/new-1')
  t.match(res.json(), { id: 'new-1', width: 8, height: 4, seq: 0, epoch: String, createdAt: ISO })
  const c = new TestClient(`${srv.wsUrl}?canvas=new-1`, { token: token() })
  t.teardown(() => c.close())
  await c.opened
  t.match((await c.next(isHello)).json.canvas, { id: 'new-1', width: 8, height: 4, seq: 0 })
  const snap = (await c.next(isSnapshot)).bin
  t.equal(snap?.readUInt16BE(9), 8)

  const again = await create({ id: 'new-1', width: 2, height: 2 })
  t.equal(again.statusCode, 409)
  t.equal(again.json().error, 'CANVAS_EXISTS')
  t.equal(srv.app.canvases.get('new-1')?.width, 8, 'the existing canvas is untouched')
  for (const bad of [{ id: 'Bad', width: 2, height: 2 }, { id: 'a'.repeat(33), width: 2, height: 2 }, { id: 'x', width: 0, height: 2 },
    { id: 'x', width: 4097, height: 2 }, { id: 'x', width: 2.5, height: 2 }, { id: 'x', width: 2 }, {}]) {
    const r = await create(bad)
    t.equal(r.statusCode, 400, `${JSON.stringify(bad)}: 400`)
    t.equal(r.json().error, 'BAD_REQUEST')
  }
  t.equal(srv.app.canvases.get('x'), undefined)
})

t.test('fill: 202, then broadcast as UPDATES at the next tick and kept in history', async (t) => {
  const srv = await listen(t, { ...SMALL, MAX_PENDING_PIXELS: '1000' })
  const { c } = await join(srv, { sub: 'watcher', role: 'viewer' })
  t.teardown(() => c.close())
  const fill = (id: string, payload: unknown) => srv.app.inject({ method: 'POST', url: `/api/admin/canvases/${id}/fill`, headers: asAdmin, payload: payload as object })
  const res = await fill('main', { x: 2, y: 3, w: 4, h: 2, color: '#FF8000' })
  t.equal(res.statusCode, 202)
  t.same(res.json(), { queued: 8 })
  const { px, seq } = await collect(c, 8)
  t.equal(seq, 8)
  t.same(px.map(([x, y]) => `${x},${y}`).sort(), ['2,3', '2,4', '3,3', '3,4', '4,3', '4,4', '5,3', '5,4'])
  t.ok(px.every(([, , r, g, b]) => r === 0xff && g === 0x80 && b === 0), 'the fill colour')
  const hist = await srv.app.inject('/api/canvases/main/pixels/5/4')
  t.match(hist.json(), { x: 5, y: 4, color: '#ff8000', user: 'admin:root', seq: Number })

  const oob = await fill('main', { x: 14, y: 0, w: 3, h: 1, color: '#000000' })
  t.equal(oob.statusCode, 400)
  t.equal(oob.json().error, 'OUT_OF_BOUNDS')
  const big = await srv.app.inject({ method: 'POST', url: '/api/admin/canvases', headers: asAdmin, payload: { id: 'big', width: 64, height: 64 } })
  t.equal(big.statusCode, 201)
  const tooLarge = await fill('big', { x: 0, y: 0, w: 64, h: 16, color: '#000000' })
  t.equal(tooLarge.statusCode, 413)
  t.equal(tooLarge.json().error, 'TOO_LARGE')
  t.equal((await fill('nope', { x: 0, y: 0, w: 1, h: 1, color: '#000000' })).statusCode, 404)
  for (const bad of [{ x: 0, y: 0, w: 1, h: 1, color: 'red' }, { x: 0, y: 0, w: 0, h: 1, color: '#000000' }, { x: -1, y: 0, w: 1, h: 1, color: '#000000' }]) {
    const r = await fill('main', bad)
    t.equal(r.statusCode, 400, `${JSON.stringify(bad)}: 400`)
  }
  t.ok(await c.nothing((m) => m.bin?.[0] === 0x11, 200), 'refused fills changed nothing')
  t.equal(srv.app.canvases.get('main')?.seq, 8)
})
