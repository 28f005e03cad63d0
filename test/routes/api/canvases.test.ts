// Public canvas routes: list, one canvas, pixel history (contract §7).
import t from 'tap'
import { build, listen, pixel, collect } from '../../helper.js'
import { asAdmin, join } from './helper.js'

const SMALL = { DEFAULT_CANVAS_WIDTH: '64', DEFAULT_CANVAS_HEIGHT: '32' }
const ISO = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/

t.test('GET /api/canvases lists every canvas by id; GET /api/canvases/:id shows one', async (t) => {
  const { app } = await build(t, SMALL)
  const created = await app.inject({ method: 'POST', url: '/api/admin/canvases', headers: asAdmin, payload: { id: 'aa-1', width: 3, height: 2 } })
  t.equal(created.statusCode, 201)

  const list = await app.inject('/api/canvases')
  t.equal(list.statusCode, 200)
  t.match(list.headers['content-type'], /application\/json/)
  t.same(list.json(), [
    { id: 'aa-1', width: 3, height: 2, seq: 0 },
    { id: 'main', width: 64, height: 32, seq: 0 }
  ])

  const one = await app.inject('/api/canvases/main')
  t.equal(one.statusCode, 200)
  const main = app.canvases.get('main')
  t.same(Object.keys(one.json()).sort(), ['createdAt', 'epoch', 'frozen', 'height', 'id', 'palette', 'seq', 'width'])
  t.match(one.json(), { id: 'main', width: 64, height: 32, seq: 0, epoch: main?.epoch, createdAt: ISO })
  t.equal(one.json().createdAt, new Date(app.canvasStore.get('main')?.createdAt as number).toISOString())

  // seq is the committed seq
  app.canvases.draw(main as NonNullable<typeof main>, { kind: 'rect', x: 0, y: 0, w: 2, h: 2, color: 0x123456 }, 'u', 0)
  t.equal((await app.inject('/api/canvases/main')).json().seq, 0, 'pending changes are not counted')
  app.canvases.flush()
  t.equal((await app.inject('/api/canvases/main')).json().seq, 4)
  t.equal((await app.inject('/api/canvases')).json()[1].seq, 4)
})

t.test('canvas errors: 404 unknown, 400 malformed id', async (t) => {
  const { app } = await build(t, SMALL)
  const missing = await app.inject('/api/canvases/nope')
  t.equal(missing.statusCode, 404)
  t.same(missing.json(), { error: 'CANVAS_NOT_FOUND', message: 'no canvas nope' })
  for (const id of ['UPPER', 'a_b', 'x'.repeat(33), 'a%20b']) {
    const res = await app.inject(`/api/canvases/${id}`)
    t.equal(res.statusCode, 400, id)
    t.match(res.json(), { error: 'BAD_REQUEST', message: /id/ }, id)
  }
  for (const url of ['/api/canvases/nope/pixels/0/0', '/api/canvases/nope/snapshot.png']) {
    t.same((await app.inject(url)).json().error, 'CANVAS_NOT_FOUND', url)
  }
})

t.test('pixel history: the last change at a pixel, painted over a real socket', async (t) => {
  const srv = await listen(t, { ...SMALL, TICK_MS: '20' })
  const { c } = await join(srv, { sub: 'ann', name: 'Ann' })
  t.teardown(() => c.close())
  const before = Date.now()
  c.send(pixel(3, 4, 255, 0, 0))
  await collect(c, 1)
  c.send(pixel(5, 5, 1, 2, 3))
  c.send(pixel(3, 4, 0, 0, 255))
  await collect(c, 2)
  const after = Date.now()

  const res = await srv.app.inject('/api/canvases/main/pixels/3/4')
  t.equal(res.statusCode, 200)
  const body = res.json()
  t.same({ ...body, at: 'x' }, { x: 3, y: 4, color: '#0000ff', seq: 3, user: 'ann', name: 'Ann', at: 'x' })
  t.match(body.at, ISO)
  const at = Date.parse(body.at)
  t.ok(at >= before - 1 && at <= after + 1, 'at is the commit time')
  t.same((await srv.app.inject('/api/canvases/main/pixels/5/5')).json().color, '#010203')

  // an admin fill is attributed to admin:<sub>
  const fill = await srv.app.inject({ method: 'POST', url: '/api/admin/canvases/main/fill', headers: asAdmin, payload: { x: 60, y: 30, w: 4, h: 2, color: '#ABCDEF' } })
  t.equal(fill.statusCode, 202)
  srv.app.canvases.flush()
  t.match((await srv.app.inject('/api/canvases/main/pixels/63/31')).json(), { x: 63, y: 31, color: '#abcdef', seq: 11, user: 'admin:root', name: 'admin:root' })
})

t.test('pixel history names the painter: its display name beside the sub; rows without one fall back to the sub', async (t) => {
  const srv = await listen(t, { ...SMALL, TICK_MS: '20' })
  const { c } = await join(srv, { sub: 'guest:Fmw', name: 'Ann' })
  t.teardown(() => c.close())
  c.send(pixel(1, 1, 9, 9, 9))
  await collect(c, 1)
  t.match((await srv.app.inject('/api/canvases/main/pixels/1/1')).json(), { user: 'guest:Fmw', name: 'Ann' })
  t.same(srv.app.db.prepare('SELECT sub, name FROM users').all(), [{ sub: 'guest:Fmw', name: 'Ann' }], 'one row per painter, not per change')

  // the same sub under a new name (issue 14): new pixels show it, old ones keep the name they were drawn under
  const { c: c2 } = await join(srv, { sub: 'guest:Fmw', name: 'Ann B.' })
  t.teardown(() => c2.close())
  c2.send(pixel(2, 2, 9, 9, 9))
  await collect(c2, 1)
  t.match((await srv.app.inject('/api/canvases/main/pixels/2/2')).json(), { user: 'guest:Fmw', name: 'Ann B.' })
  t.match((await srv.app.inject('/api/canvases/main/pixels/1/1')).json(), { user: 'guest:Fmw', name: 'Ann' }, 'a rename after drawing keeps the old name on old pixels')
  t.same(srv.app.db.prepare('SELECT sub, name FROM painter_names ORDER BY id').all(), [{ sub: 'guest:Fmw', name: 'Ann' }, { sub: 'guest:Fmw', name: 'Ann B.' }], 'each name once')

  // a row written before migration 008 (no name_id) by a named sub: its latest name, as before 008
  srv.app.db.prepare('INSERT INTO change_log (canvas, seq, x, y, color, user, at) VALUES (?, ?, ?, ?, ?, ?, ?)')
    .run('main', 999, 5, 5, 0x123456, 'guest:Fmw', 0)
  t.match((await srv.app.inject('/api/canvases/main/pixels/5/5')).json(), { seq: 999, user: 'guest:Fmw', name: 'Ann B.' })

  // a row written before the users table existed (no name stored): the sub
  srv.app.db.prepare('INSERT INTO change_log (canvas, seq, x, y, color, user, at) VALUES (?, ?, ?, ?, ?, ?, ?)')
    .run('main', 1000, 5, 6, 0x123456, 'old-sub', 0)
  t.match((await srv.app.inject('/api/canvases/main/pixels/5/6')).json(), { seq: 1000, user: 'old-sub', name: 'old-sub' })
})

t.test('pixel history errors: never painted 404, outside the canvas 400, malformed 400', async (t) => {
  const { app } = await build(t, SMALL)
  const never = await app.inject('/api/canvases/main/pixels/0/0')
  t.equal(never.statusCode, 404)
  t.same(never.json(), { error: 'NO_HISTORY', message: 'pixel (0,0) was never painted' })
  for (const [x, y] of [[64, 0], [0, 32], [65535, 65535]]) {
    const res = await app.inject(`/api/canvases/main/pixels/${x}/${y}`)
    t.equal(res.statusCode, 400)
    t.same(res.json(), { error: 'OUT_OF_BOUNDS', message: `pixel (${x},${y}) is outside the 64x32 canvas` })
  }
  for (const [x, y] of [['-1', '0'], ['1.5', '0'], ['a', '0'], ['0', '65536']]) {
    const res = await app.inject(`/api/canvases/main/pixels/${x}/${y}`)
    t.equal(res.statusCode, 400, `${x},${y}`)
    t.equal(res.json().error, 'BAD_REQUEST')
  }
})

t.test('the pixel lookup uses the index, not a scan of the history', async (t) => {
  const { app } = await build(t, SMALL)
  // canvas-store's pixelAt and changesAfter, verbatim
  const pixelAt = 'SELECT seq, x, y, color, user, at FROM change_log WHERE canvas = ? AND x = ? AND y = ? ORDER BY seq DESC LIMIT 1'
  const after = 'SELECT x, y, color FROM change_log WHERE canvas = ? AND seq > ? ORDER BY seq LIMIT ?'
  const plan = (sql: string, ...args: unknown[]) => (app.db.prepare(`EXPLAIN QUERY PLAN ${sql}`).all(...args) as Array<{ detail: string }>).map((r) => r.detail).join('; ')
  t.match(plan(pixelAt, 'main', 1, 2), /^SEARCH change_log USING (COVERING )?INDEX change_log_pixel \(canvas=\? AND y=\? AND x=\?\)$/, 'fresh database')
  t.notMatch(plan(pixelAt, 'main', 1, 2), /TEMP B-TREE/, 'no sort: the index yields seq order')
  t.match(plan(after, 'main', 0, 10), /USING PRIMARY KEY \(canvas=\? AND seq>\?\)/, 'replays still walk the primary key')

  // a real ANALYZE over a populated log keeps it that way
  const main = app.canvases.get('main') as NonNullable<ReturnType<typeof app.canvases.get>>
  for (let i = 0; i < 20; i++) {
    app.canvases.draw(main, { kind: 'rect', x: 0, y: 0, w: 64, h: 32, color: i }, 'u', 0)
    app.canvases.flush()
  }
  app.db.exec('ANALYZE')
  t.match(plan(pixelAt, 'main', 1, 2), /USING (COVERING )?INDEX change_log_pixel/, 'after ANALYZE')
  t.match(plan(after, 'main', 0, 10), /USING PRIMARY KEY/)
  t.match((await app.inject('/api/canvases/main/pixels/1/2')).json(), { color: '#000013', seq: 19 * 2048 + 2 * 64 + 2 })
})
