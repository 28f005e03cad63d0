// GET /api/canvases/:id/snapshot.png: the committed canvas as a PNG, with a
// strong ETag and 304s (contract §7).
import t from 'tap'
import { build } from '../../helper.js'
import { readPng } from './helper.js'

const URL = '/api/canvases/main/snapshot.png'

t.test('the PNG is the committed canvas, 8-bit RGB, with ETag "<epoch>-<seq>"', async (t) => {
  const { app } = await build(t, { DEFAULT_CANVAS_WIDTH: '5', DEFAULT_CANVAS_HEIGHT: '3' })
  const main = app.canvases.get('main') as NonNullable<ReturnType<typeof app.canvases.get>>

  const blank = await app.inject(URL)
  t.equal(blank.statusCode, 200)
  t.equal(blank.headers['content-type'], 'image/png')
  t.equal(blank.headers['cache-control'], 'no-cache')
  t.equal(blank.headers.etag, `"${main.epoch}-0"`)
  t.equal(Number(blank.headers['content-length']), blank.rawPayload.length)
  const png0 = readPng(blank.rawPayload)
  t.same([png0.width, png0.height, png0.depth, png0.colorType], [5, 3, 8, 2])
  t.ok(png0.rgb.equals(Buffer.alloc(45, 0xff)), 'a new canvas is white')

  app.canvases.draw(main, { kind: 'rect', x: 1, y: 1, w: 2, h: 2, color: 0x102030 }, 'u', 0)
  const pending = await app.inject(URL)
  t.equal(pending.headers.etag, `"${main.epoch}-0"`, 'pending changes are not in the PNG')
  t.ok(pending.rawPayload.equals(blank.rawPayload))

  app.canvases.flush()
  const drawn = await app.inject(URL)
  t.equal(drawn.headers.etag, `"${main.epoch}-4"`)
  const png4 = readPng(drawn.rawPayload)
  const want = Buffer.alloc(45, 0xff)
  for (const [x, y] of [[1, 1], [2, 1], [1, 2], [2, 2]]) want.set([0x10, 0x20, 0x30], (y * 5 + x) * 3)
  t.ok(png4.rgb.equals(want), 'pixels match the canvas')
  t.ok(png4.rgb.equals(main.pixels), 'and the in-memory committed pixels')
})

t.test('If-None-Match: 304 without a body when it matches', async (t) => {
  const { app } = await build(t, { DEFAULT_CANVAS_WIDTH: '4', DEFAULT_CANVAS_HEIGHT: '4' })
  const main = app.canvases.get('main') as NonNullable<ReturnType<typeof app.canvases.get>>
  const etag = (await app.inject(URL)).headers.etag as string

  for (const inm of [etag, `W/${etag}`, `"other", ${etag}`, '*']) {
    const res = await app.inject({ url: URL, headers: { 'if-none-match': inm } })
    t.equal(res.statusCode, 304, inm)
    t.equal(res.rawPayload.length, 0, 'no body')
    t.equal(res.headers.etag, etag)
    t.equal(res.headers['cache-control'], 'no-cache')
    t.notOk(res.headers['content-type'], 'no content type')
  }
  for (const inm of ['"other"', `"${main.epoch}-1"`, etag.slice(1, -1)]) {
    const res = await app.inject({ url: URL, headers: { 'if-none-match': inm } })
    t.equal(res.statusCode, 200, inm)
  }

  app.canvases.draw(main, { kind: 'rect', x: 0, y: 0, w: 1, h: 1, color: 0 }, 'u', 0)
  app.canvases.flush()
  const stale = await app.inject({ url: URL, headers: { 'if-none-match': etag } })
  t.equal(stale.statusCode, 200, 'a change makes the old ETag stale')
  t.equal(stale.headers.etag, `"${main.epoch}-1"`)
  t.same([...readPng(stale.rawPayload).rgb.subarray(0, 6)], [0, 0, 0, 255, 255, 255])
})

t.test('encoded at most once per seq; concurrent requests share it', async (t) => {
  const { app } = await build(t)
  const main = app.canvases.get('main') as NonNullable<ReturnType<typeof app.canvases.get>>
  t.equal(main.width * main.height, 1024 * 1024, 'a full-size canvas, 3 MiB raw')
  const all = await Promise.all(Array.from({ length: 8 }, () => app.inject(URL)))
  t.ok(all.every((r) => r.statusCode === 200 && r.rawPayload.equals(all[0].rawPayload)), 'same bytes for all')
  t.ok(all.every((r) => r.headers.etag === all[0].headers.etag))
  const again = await app.inject(URL)
  t.ok(again.rawPayload.equals(all[0].rawPayload))
  const png = readPng(all[0].rawPayload)
  t.same([png.width, png.height], [1024, 1024])
  t.ok(png.rgb.equals(main.pixels))
  // the cache itself (src/png.ts createPngCache) is unit-tested with a counting encoder
})

t.test('errors: 404 unknown canvas, 400 malformed id', async (t) => {
  const { app } = await build(t, { DEFAULT_CANVAS_WIDTH: '4', DEFAULT_CANVAS_HEIGHT: '4' })
  const missing = await app.inject('/api/canvases/nope/snapshot.png')
  t.same([missing.statusCode, missing.json()], [404, { error: 'CANVAS_NOT_FOUND', message: 'no canvas nope' }])
  const bad = await app.inject('/api/canvases/NOPE/snapshot.png')
  t.same([bad.statusCode, bad.json().error], [400, 'BAD_REQUEST'])
})
