// Canvas lifecycle (contract §10, issue 13 point 2) over real sockets:
// freeze, palette, reset, delete; each route's errors and what connected
// clients see.
import t from 'tap'
import {
  listen, token, TestClient, isHello, isSnapshot, isUpdates, isError, parseUpdates, parseSnapshot, pixel, rect, stroke, collect, handshake, drew, type Listening
} from '../../helper.js'
import { asAdmin, bearer, isType, join } from './helper.js'

const SMALL = { DEFAULT_CANVAS_WIDTH: '8', DEFAULT_CANVAS_HEIGHT: '8', TICK_MS: '20' }

const patch = (srv: Listening, id: string, payload: unknown, headers: Record<string, string> = asAdmin) =>
  srv.app.inject({ method: 'PATCH', url: `/api/admin/canvases/${id}`, headers, payload: payload as object })
const post = (srv: Listening, url: string, payload?: unknown, headers: Record<string, string> = asAdmin) =>
  srv.app.inject({ method: 'POST', url, headers, ...(payload === undefined ? {} : { payload: payload as object }) })
const del = (srv: Listening, id: string, headers: Record<string, string> = asAdmin) =>
  srv.app.inject({ method: 'DELETE', url: `/api/admin/canvases/${id}`, headers })

t.test('freeze: FROZEN for painters, admins still draw, canvas messages, hello, persisted', async (t) => {
  const srv = await listen(t, SMALL)
  const { c: p } = await join(srv, { sub: 'pat', role: 'painter' })
  const { c: a } = await join(srv, { sub: 'root', role: 'admin' })
  const { c: v } = await join(srv, { sub: 'vic', role: 'viewer' })
  t.teardown(() => { p.close(); a.close(); v.close() })

  const res = await patch(srv, 'main', { frozen: true })
  t.equal(res.statusCode, 200)
  t.match(res.json(), { id: 'main', frozen: true, palette: null })
  for (const c of [p, a, v]) t.same((await c.next(isType('canvas'))).json, { type: 'canvas', canvas: 'main', frozen: true }, 'every client is told')

  p.send(pixel(1, 1, 200, 0, 0))
  const err = (await p.next(isError('FROZEN'))).json
  t.match(err, { type: 'error', code: 'FROZEN', message: /frozen/ })
  p.send(rect(0, 0, 2, 2, 1, 2, 3))
  await p.next(isError('FROZEN'))
  a.send(pixel(2, 2, 0, 200, 0))
  await drew(p, 2, 2)
  t.ok(await p.nothing((m) => isUpdates(m) && parseUpdates(m.bin as Buffer).px.some((x) => x[0] === 1 && x[1] === 1), 100), 'the frozen draw was not applied')

  const { c: late } = await join(srv, { sub: 'late' })
  t.teardown(() => late.close())
  const hello = await new TestClient(srv.wsUrl, { token: token({ sub: 'h' }) })
  t.teardown(() => hello.close())
  t.match((await hello.next(isHello)).json.canvas, { id: 'main', frozen: true, palette: null })
  t.match((await srv.app.inject({ url: '/api/canvases/main' })).json(), { frozen: true })

  const off = await patch(srv, 'main', { frozen: false })
  t.equal(off.json().frozen, false)
  t.same((await p.next(isType('canvas'))).json, { type: 'canvas', canvas: 'main', frozen: false })
  p.send(pixel(1, 1, 200, 0, 0))
  await drew(p, 1, 1)

  // Persisted: a restart on the same DATA_DIR keeps it frozen.
  await patch(srv, 'main', { frozen: true })
  await srv.app.close()
  const again = await listen(t, { ...SMALL, DATA_DIR: srv.dataDir })
  const h2 = new TestClient(again.wsUrl, { token: token({ sub: 'h2' }) })
  t.teardown(() => h2.close())
  t.match((await h2.next(isHello)).json.canvas, { frozen: true })
})

t.test('PATCH errors: 400 bodies, 404 unknown, 401/403', async (t) => {
  const srv = await listen(t, { ...SMALL, MAX_PALETTE_COLORS: '4' })
  for (const body of [{}, { frozen: 'yes' }, { frozen: { on: true } }, { palette: [] }, { palette: ['red'] }, { palette: 0 }, { palette: '' }, { palette: ['#12345'] }, { palette: ['#000000', '#000001', '#000002', '#000003', '#000004'] }]) {
    const res = await patch(srv, 'main', body)
    t.equal(res.statusCode, 400, `${JSON.stringify(body)}: 400`)
    t.match(res.json(), { error: 'BAD_REQUEST', message: String })
  }
  t.equal((await patch(srv, 'main', { frozen: true, palette: ['#000000', '#000001', '#000002', '#000003', '#000004'] })).statusCode, 400)
  t.equal((await srv.app.inject({ url: '/api/canvases/main' })).json().frozen, false, 'a refused PATCH changes nothing')
  const missing = await patch(srv, 'nope', { frozen: true })
  t.equal(missing.statusCode, 404)
  t.match(missing.json(), { error: 'CANVAS_NOT_FOUND' })
  t.equal((await patch(srv, 'Bad!', { frozen: true })).statusCode, 400)
  t.equal((await patch(srv, 'main', { frozen: true }, {})).statusCode, 401)
  t.equal((await patch(srv, 'main', { frozen: true }, bearer({ role: 'painter' }))).statusCode, 403)
  t.equal((await post(srv, '/api/admin/canvases/main/reset', undefined, bearer({ role: 'painter' }))).statusCode, 403)
  t.equal((await del(srv, 'main', {})).statusCode, 401)
})

t.test('palette: on create and by PATCH; BAD_COLOR for other colours; hello and canvas messages', async (t) => {
  const srv = await listen(t, SMALL)
  const created = await post(srv, '/api/admin/canvases', { id: 'place', width: 8, height: 8, palette: ['#FF0000', '#00ff00', '#ff0000'] })
  t.equal(created.statusCode, 201)
  t.match(created.json(), { id: 'place', palette: ['#ff0000', '#00ff00'], frozen: false }, 'normalised, duplicates dropped')
  const bad = await post(srv, '/api/admin/canvases', { id: 'worse', width: 8, height: 8, palette: 'red' })
  t.equal(bad.statusCode, 400)

  const c = new TestClient(`${srv.wsUrl}?canvas=place`, { token: token({ sub: 'pat' }) })
  t.teardown(() => c.close())
  t.match((await c.next(isHello)).json.canvas, { id: 'place', palette: ['#ff0000', '#00ff00'] })
  await c.next(isSnapshot)

  c.send(pixel(1, 1, 0, 0, 255))
  t.match((await c.next(isError('BAD_COLOR'))).json, { code: 'BAD_COLOR', message: /#0000ff/ })
  c.send(stroke([[0, 0, 255, 0, 0], [1, 0, 1, 2, 3]]))
  t.match((await c.next(isError('BAD_COLOR'))).json, { message: /#010203/ }, 'one bad pixel refuses the whole stroke')
  c.send(rect(0, 0, 2, 2, 9, 9, 9))
  await c.next(isError('BAD_COLOR'))
  c.send(stroke([[3, 3, 255, 0, 0], [4, 3, 0, 255, 0]]))
  const ok = await collect(c, 2)
  t.same(ok.px, [[3, 3, 255, 0, 0], [4, 3, 0, 255, 0]])
  t.ok(await c.nothing(isUpdates, 100), 'no refused pixel was applied')
  const fill = await post(srv, '/api/admin/canvases/place/fill', { x: 0, y: 0, w: 1, h: 1, color: '#0000ff' })
  t.equal(fill.statusCode, 400)
  t.match(fill.json(), { error: 'BAD_COLOR' })

  const changed = await patch(srv, 'place', { palette: ['#0000ff'] })
  t.match(changed.json(), { palette: ['#0000ff'] })
  t.same((await c.next(isType('canvas'))).json, { type: 'canvas', canvas: 'place', palette: ['#0000ff'] })
  c.send(pixel(1, 1, 0, 0, 255))
  await drew(c, 1, 1)
  t.same((await patch(srv, 'place', { palette: null, frozen: true })).json().palette, null)
  t.same((await c.next(isType('canvas'))).json, { type: 'canvas', canvas: 'place', frozen: true, palette: null }, 'one message for both')
  await patch(srv, 'place', { frozen: false })
  await c.next(isType('canvas'))
  c.send(pixel(2, 2, 1, 2, 3))
  await drew(c, 2, 2)
})

t.test('reset: new epoch, canvas message then a blank SNAPSHOT; old since gets a snapshot; ETag; history', async (t) => {
  const srv = await listen(t, { ...SMALL, SNAPSHOT_EVERY: '3' })
  const { c: p } = await join(srv, { sub: 'pat' })
  const { c: w } = await join(srv, { sub: 'wat', role: 'viewer' })
  t.teardown(() => { p.close(); w.close() })
  p.send(stroke([[0, 0, 1, 1, 1], [1, 0, 2, 2, 2], [2, 0, 3, 3, 3], [3, 0, 4, 4, 4]]))
  const before = await collect(w, 4)
  const old = (await srv.app.inject({ url: '/api/canvases/main' })).json()
  t.equal(old.seq, before.seq)
  const etag = (await srv.app.inject({ url: '/api/canvases/main/snapshot.png' })).headers.etag as string

  // A sync waiting when the reset comes is answered (its draw was dropped or committed).
  p.send(pixel(5, 5, 9, 9, 9))
  p.send(JSON.stringify({ type: 'sync', id: 's1' }))
  const res = await post(srv, '/api/admin/canvases/main/reset')
  t.equal(res.statusCode, 200)
  const now = res.json()
  t.not(now.epoch, old.epoch, 'a new epoch')
  t.ok(now.seq >= old.seq, 'seq numbers on after the old epoch')

  for (const c of [p, w]) {
    const msg = (await c.next(isType('canvas'))).json
    t.match(msg, { type: 'canvas', canvas: 'main', epoch: now.epoch, seq: now.seq, width: 8, height: 8, frozen: false, palette: null })
    const snap = parseSnapshot((await c.next(isSnapshot)).bin as Buffer)
    t.equal(snap.seq, now.seq)
    t.ok(snap.px.equals(Buffer.alloc(8 * 8 * 3, 0xff)), 'a blank canvas')
    t.ok(c.msgs.findIndex(isType('canvas')) === -1, 'one canvas message')
  }
  t.match((await p.next(isType('synced'))).json, { id: 's1' })

  // Draws go on in the new epoch.
  // (the pixel drawn before the reset may have been committed and shown before it: not after)
  w.msgs.length = 0
  p.send(pixel(6, 6, 7, 7, 7))
  const after = await collect(w, 1)
  t.same(after.px, [[6, 6, 7, 7, 7]])
  t.equal(after.seq, now.seq + 1)

  // Resuming with the old epoch: a snapshot, never a replay of the old one.
  const r = new TestClient(`${srv.wsUrl}?since=${before.seq}&epoch=${old.epoch}`, { token: token({ sub: 'r' }) })
  t.teardown(() => r.close())
  t.match((await r.next(isHello)).json, { resume: 'snapshot', canvas: { epoch: now.epoch } })
  const snap = parseSnapshot((await r.next(isSnapshot)).bin as Buffer)
  t.same(snap.at(0, 0), [255, 255, 255], 'the old pixels are gone')
  t.same(snap.at(6, 6), [7, 7, 7])
  // The new epoch resumes by replay.
  const r2 = new TestClient(`${srv.wsUrl}?since=${now.seq}&epoch=${now.epoch}`, { token: token({ sub: 'r2' }) })
  t.teardown(() => r2.close())
  t.equal((await r2.next(isHello)).json.resume, 'replay')
  t.same(parseUpdates((await r2.next(isUpdates)).bin as Buffer).px, [[6, 6, 7, 7, 7]])

  const png = await srv.app.inject({ url: '/api/canvases/main/snapshot.png', headers: { 'if-none-match': etag } })
  t.equal(png.statusCode, 200, 'the old ETag no longer matches')
  t.not(png.headers.etag, etag)
  t.equal((await srv.app.inject({ url: '/api/canvases/main/pixels/0/0' })).statusCode, 404, 'the pixel API shows the current epoch only')
  t.equal((await srv.app.inject({ url: '/api/canvases/main/pixels/6/6' })).json().color, '#070707')

  t.equal((await post(srv, '/api/admin/canvases/nope/reset')).statusCode, 404)
  t.equal((await post(srv, '/api/admin/canvases/Bad!/reset')).statusCode, 400)

  // Kept across a restart: the blank snapshot and the new epoch's log.
  await srv.app.close()
  const again = await listen(t, { ...SMALL, DATA_DIR: srv.dataDir })
  const detail = (await again.app.inject({ url: '/api/canvases/main' })).json()
  t.match(detail, { epoch: now.epoch, seq: after.seq })
  const c2 = new TestClient(again.wsUrl, { token: token({ sub: 'c2' }) })
  t.teardown(() => c2.close())
  await c2.next(isHello)
  const s2 = parseSnapshot((await c2.next(isSnapshot)).bin as Buffer)
  t.same(s2.at(0, 0), [255, 255, 255])
  t.same(s2.at(6, 6), [7, 7, 7])
})

t.test('delete: clients closed with 4404, rows gone, then handshakes 404; main 409; unknown 404', async (t) => {
  const srv = await listen(t, SMALL)
  t.equal((await post(srv, '/api/admin/canvases', { id: 'side', width: 4, height: 4 })).statusCode, 201)
  const { c: a } = await join(srv, { sub: 'a' }, 'side')
  const { c: m } = await join(srv, { sub: 'm' })
  t.teardown(() => { a.close(); m.close() })
  a.send(pixel(1, 1, 1, 1, 1))
  await drew(a, 1, 1)

  const main = await del(srv, 'main')
  t.equal(main.statusCode, 409)
  t.match(main.json(), { error: 'CANVAS_PROTECTED' })
  t.equal((await del(srv, 'nope')).statusCode, 404)
  t.equal((await del(srv, 'Bad!')).statusCode, 400)

  const res = await del(srv, 'side')
  t.equal(res.statusCode, 204)
  t.same((await a.next(isType('canvas'))).json, { type: 'canvas', canvas: 'side', deleted: true })
  const closed = await a.closed
  t.equal(closed.code, 4404)
  t.equal(closed.reason, 'canvas deleted')
  t.equal(m.ws.readyState, m.ws.OPEN, 'clients of other canvases stay')

  t.equal((await srv.app.inject({ url: '/api/canvases/side' })).statusCode, 404)
  t.equal((await del(srv, 'side')).statusCode, 404, 'deleting twice: 404')
  const hs = await handshake(`${srv.wsUrl}?canvas=side`, { headers: { authorization: `Bearer ${token({ sub: 'x' })}` } })
  t.equal(hs.status, 404)
  t.match(JSON.parse(hs.body), { error: 'CANVAS_NOT_FOUND' })
  // Its rows are purged in the background (bounded steps), then the id is free again.
  for (let i = 0; i < 200 && srv.app.canvases.purging > 0; i++) await new Promise((resolve) => setTimeout(resolve, 20))
  const rows = srv.app.db.prepare("SELECT (SELECT count(*) FROM change_log WHERE canvas = 'side') + (SELECT count(*) FROM snapshots WHERE canvas = 'side') + (SELECT count(*) FROM canvases WHERE id = 'side') AS n").get() as { n: number }
  t.equal(rows.n, 0, 'its row, change log and snapshots are gone')

  // The id may be used again: a fresh canvas with a new epoch.
  const again = await post(srv, '/api/admin/canvases', { id: 'side', width: 2, height: 2 })
  t.equal(again.statusCode, 201)
  t.match(again.json(), { seq: 0, width: 2 })

  // Re-created before the purge's first step (same turn): 409, never a 500.
  srv.app.canvases.remove('side')
  t.throws(() => srv.app.canvases.create('side', 2, 2), { kind: 'conflict', code: 'CANVAS_EXISTS', message: /purged/ })
})

t.test('the seam: a canvas-state event from the broker alone (as another node\'s change arrives) is applied here', async (t) => {
  const srv = await listen(t, SMALL)
  const { c } = await join(srv, { sub: 'pat' })
  t.teardown(() => c.close())
  srv.app.broker.publish('canvas:main', { type: 'canvas-state', canvas: 'main', frozen: true, palette: [0x000000] })
  t.same((await c.next(isType('canvas'))).json, { type: 'canvas', canvas: 'main', frozen: true, palette: ['#000000'] })
  c.send(pixel(1, 1, 0, 0, 0))
  await c.next(isError('FROZEN'))
})

t.test('after a reset, revert and locks see the new epoch only; a canvas created again under a deleted one\'s id has none of its locks', async (t) => {
  const srv = await listen(t, SMALL)
  const { c } = await join(srv, { sub: 'pat' })
  t.teardown(() => c.close())
  c.send(pixel(1, 1, 9, 9, 9))
  await drew(c, 1, 1)
  await post(srv, '/api/admin/canvases/main/reset')
  const before = await post(srv, '/api/admin/canvases/main/revert', { user: 'pat' })
  t.equal(before.statusCode, 200)
  t.match(before.json(), { reverted: 0 }, 'the old epoch\'s pixels are not brought back')
  c.send(pixel(2, 2, 9, 9, 9))
  await drew(c, 2, 2)
  t.match((await post(srv, '/api/admin/canvases/main/revert', { user: 'pat' })).json(), { reverted: 1 })

  await post(srv, '/api/admin/canvases', { id: 'side', width: 4, height: 4 })
  t.equal((await post(srv, '/api/admin/canvases/side/locks', { x: 0, y: 0, w: 2, h: 2 })).statusCode, 201)
  t.equal((await del(srv, 'side')).statusCode, 204)
  for (let i = 0; i < 200 && srv.app.canvases.purging > 0; i++) await new Promise((resolve) => setTimeout(resolve, 20))
  await post(srv, '/api/admin/canvases', { id: 'side', width: 4, height: 4 })
  const { c: s } = await join(srv, { sub: 'sam' }, 'side')
  t.teardown(() => s.close())
  s.send(pixel(0, 0, 1, 2, 3))
  await drew(s, 0, 0)
  t.pass('the re-created canvas has no lock')
})
