// What the page (src/client) takes from pixelwire/client beyond drawing and
// reading, against the real server: cursors, reconnect() on demand, a
// RATE_LIMITED refusal as a `retry` event (not a failed attempt) with the
// cooldown and budget it leaves, getToken told when it is a renewal, and
// cancelQueued().
import t from 'tap'
import { listen, token, TestClient, isHello, isSnapshot, stroke, type Listening } from '../helper.js'
import { libClient, until } from './helper.js'

const SMALL = { TICK_MS: '20', DEFAULT_CANVAS_WIDTH: '64', DEFAULT_CANVAS_HEIGHT: '48' }

/** A raw client of `sub` that draws `pts` and waits for its commit (the `synced`). */
async function rawDraw (t: { teardown (fn: () => unknown): void }, srv: Listening, sub: string, pts: Array<[number, number, number, number, number]>): Promise<void> {
  const c = new TestClient(srv.wsUrl, { token: token({ sub }) })
  t.teardown(() => c.close())
  await c.next(isHello)
  await c.next(isSnapshot)
  c.send(stroke(pts))
  c.send(JSON.stringify({ type: 'sync', id: 'raw' }))
  await c.next((m) => m.json?.type === 'synced' && m.json.id === 'raw', 5000)
}

t.test('moveCursor reaches the others; reconnect() opens a new connection at once and resumes', async (t) => {
  const srv = await listen(t, SMALL)
  const a = libClient(t, srv.wsUrl, { sub: 'a' })
  const b = libClient(t, srv.wsUrl, { sub: 'b' })
  t.equal(a.moveCursor(1, 1), false, 'not live yet: nothing sent')
  await Promise.all([a.connect(), b.connect()])
  const seen: Array<{ connectionId: number, x: number, y: number }> = []
  b.on('cursors', (list) => seen.push(...list))
  t.equal(a.moveCursor(7, 9), true)
  const id = a.hello!.connectionId
  await until(b, () => seen.some((e) => e.connectionId === id && e.x === 7 && e.y === 9), 10_000, 'the cursor')
  t.pass('the other client saw the cursor where it was moved')

  const states: Array<[string, number | undefined]> = []
  a.on('state', (s, d) => states.push([s, d.delayMs]))
  a.reconnect()
  await until(a, () => a.state === 'live' && a.hello !== null && a.hello.connectionId !== id, 10_000, 'the new connection')
  t.same(states, [['reconnecting', 0], ['live', undefined]], 'reconnecting without a backoff wait, then live')
  t.equal(a.hello?.resume, 'replay', 'resumed with since and epoch')
  await a.draw(3, 3, 0x102030)
  t.equal(a.canvas.pixel(3, 3), 0x102030, 'and it draws on the new connection')
})

t.test('RATE_LIMITED: a retry event, not a failed attempt; cooldown and budget say how long', async (t) => {
  const srv = await listen(t, { ...SMALL, PIXEL_RATE: '5', PIXEL_BURST: '5' })
  // maxAttempts 1: a RATE_LIMITED counted as a failed send would reject the draw.
  const c = libClient(t, srv.wsUrl, { sub: 'r' }, { maxAttempts: 1 })
  await c.connect()
  t.same(c.budgetStatus(), { ready: 5, nextInMs: 0 }, 'a full bucket: five ready')
  t.equal(c.cooldown(), null, 'nothing waits')
  // Another connection of the same user empties the bucket this client cannot see.
  await rawDraw(t, srv, 'r', Array.from({ length: 5 }, (_, i) => [i, 40, 0, 0, 0] as [number, number, number, number, number]))

  const retries: Array<{ code: string, pixels: number, after?: number }> = []
  c.on('retry', (e, pixels) => retries.push({ code: e.code, pixels, after: e.retryAfterMs }))
  const draw = c.drawPixels([10, 11, 12].map((x) => ({ x, y: 1, color: 0x00aa00 })))
  await until(c, () => retries.length > 0, 10_000, 'the refusal')
  t.match(retries[0], { code: 'RATE_LIMITED', pixels: 3 }, 'the op and its size')
  t.ok((retries[0].after ?? 0) > 0, 'with the server\'s retryAfterMs')
  t.same(c.drawStatus(), { queued: 3, sent: 0, accepted: 0 }, 'back in the queue')
  const cd = c.cooldown()
  t.ok(cd !== null && cd.waitMs > 0 && cd.queued === 3, `a cooldown: ${cd?.waitMs} ms, ${cd?.queued} pixels waiting`)
  const budget = c.budgetStatus()
  t.ok(budget !== null && budget.ready === 0 && budget.nextInMs > 0, `no pixel ready, the next in ${budget?.nextInMs} ms`)

  const res = await draw
  t.ok(res.seq > 0, 'confirmed after the cooldown, though maxAttempts is 1')
  t.equal(srv.app.canvasStore.pixelAt('main', 12, 1)?.color, 0x00aa00, 'committed')
  t.same(c.drawStatus(), { queued: 0, sent: 0, accepted: 0 })
  t.equal(c.cooldown(), null)
})

t.test('getToken is told when it is asked for a renewal; cancelQueued takes back what was not sent', async (t) => {
  const srv = await listen(t, SMALL)
  const asked: boolean[] = []
  const c = libClient(t, srv.wsUrl, {}, { getToken: (why) => { asked.push(why.renew); return token({ sub: 'r' }, { ttlSec: 4 }) } })
  await c.connect()
  await until(c, () => asked.includes(true), 10_000, 'a renewal')
  t.same(asked.slice(0, 2), [false, true], 'asked to connect, then to renew')

  const idle = libClient(t, srv.wsUrl, { sub: 'q' })
  const queued = idle.drawPixels([{ x: 20, y: 20, color: 0xff0000 }, { x: 21, y: 20, color: 0xff0000 }])
  t.equal(idle.cancelQueued(), 2, 'two pixels taken back')
  await t.rejects(queued, { name: 'PixelwireError', code: 'CANCELLED' })
  t.equal(idle.unsettledPixels, 0)
  await idle.connect()
  await idle.draw(22, 20, 0x0000ff)
  t.equal(srv.app.canvasStore.pixelAt('main', 22, 20)?.color, 0x0000ff, 'a later draw goes')
  t.equal(srv.app.canvasStore.pixelAt('main', 20, 20), undefined, 'the cancelled ones never did')
})
