// Live settings (contract §10, issue 13 point 4) over real sockets: GET and
// PATCH /api/admin/settings, effective at once (a 5-minute cooldown set live
// is enforced and shown in hello.limits; connection caps), validated, kept
// across a restart where the stored value wins over the environment.
import t from 'tap'
import { listen, token, isError, pixel, rect, handshake, joinClient, drew, type Listening } from '../../helper.js'
import { asAdmin, bearer } from './helper.js'

const ENV = { DEFAULT_CANVAS_WIDTH: '8', DEFAULT_CANVAS_HEIGHT: '8', TICK_MS: '20', PIXEL_RATE: '200', PIXEL_BURST: '100' }
const FIVE_MIN = 5 * 60 * 1000

const get = (srv: Listening) => srv.app.inject({ url: '/api/admin/settings', headers: asAdmin })
const patch = (srv: Listening, payload: unknown, headers: Record<string, string> = asAdmin) =>
  srv.app.inject({ method: 'PATCH', url: '/api/admin/settings', headers, payload: payload as object })

const open = (srv: Listening, sub: string) => joinClient(srv, { sub })

t.test('GET: the environment\'s values; PATCH a 5-minute cooldown: enforced at once and shown in hello.limits', async (t) => {
  const srv = await listen(t, ENV)
  const res = await get(srv)
  t.equal(res.statusCode, 200)
  t.same(res.json(), {
    pixelRate: 200,
    pixelBurst: 100,
    guestPixelRatePerIp: 200,
    guestPixelBurstPerIp: 100,
    maxConnections: 20000,
    maxConnectionsPerIp: 1000,
    maxConnectionsPerUser: 20
  })

  // Connected before the change, with a bucket in use: it keeps what it has, cut to the new burst.
  const { c: early, hello } = await open(srv, 'early')
  t.teardown(() => early.close())
  t.match(hello.limits, { pixelRate: 200, pixelBurst: 100, pixelsAvailable: 100 })
  early.send(pixel(0, 0, 1, 1, 1))
  await drew(early, 0, 0)

  const changed = await patch(srv, { pixelRate: 0.0033, pixelBurst: 1 })
  t.equal(changed.statusCode, 200)
  t.match(changed.json(), { pixelRate: 0.0033, pixelBurst: 1, guestPixelRatePerIp: 0.0033, guestPixelBurstPerIp: 1, maxConnections: 20000 })
  t.same((await get(srv)).json(), changed.json())

  early.send(pixel(1, 1, 2, 2, 2))
  await drew(early, 1, 1)
  early.send(pixel(2, 2, 3, 3, 3))
  const limited = (await early.next(isError('RATE_LIMITED'))).json
  t.ok(limited.retryAfterMs > FIVE_MIN - 10_000 && limited.retryAfterMs <= Math.ceil(1000 / 0.0033), `a connected client is in a ~5-minute cooldown (${limited.retryAfterMs} ms)`)
  early.send(rect(0, 0, 1, 2, 1, 1, 1))
  t.match((await early.next(isError('TOO_LARGE'))).json, { message: /budget of 1/ }, 'the new burst bounds ops')

  const { c: late, hello: h2 } = await open(srv, 'late')
  t.teardown(() => late.close())
  t.match(h2.limits, { pixelRate: 0.0033, pixelBurst: 1, pixelsAvailable: 1, nextPixelInMs: 0 }, 'hello.limits shows the live budget')
  late.send(pixel(3, 3, 4, 4, 4))
  await drew(late, 3, 3)
  late.send(pixel(4, 4, 4, 4, 4))
  await late.next(isError('RATE_LIMITED'))
  const { c: again, hello: h3 } = await open(srv, 'late')
  t.teardown(() => again.close())
  t.equal(h3.limits.pixelsAvailable, 0)
  t.ok(h3.limits.nextPixelInMs > FIVE_MIN - 10_000 && h3.limits.nextPixelInMs <= 303_031, `hello shows the cooldown: ${h3.limits.nextPixelInMs} ms`)

  // Back to the environment's values: null.
  const reset = await patch(srv, { pixelRate: null, pixelBurst: null })
  t.match(reset.json(), { pixelRate: 200, pixelBurst: 100 })
  // Its empty bucket now refills at 200/s: a pixel within 5 ms, so after 50 ms surely.
  await new Promise((resolve) => setTimeout(resolve, 50))
  late.send(pixel(5, 5, 4, 4, 4))
  await drew(late, 5, 5)
})

t.test('connection caps: lower caps refuse new handshakes at once and close nobody', async (t) => {
  const srv = await listen(t, ENV)
  const { c: a } = await open(srv, 'ann')
  const { c: b } = await open(srv, 'bob')
  t.teardown(() => { a.close(); b.close() })
  t.equal((await patch(srv, { maxConnectionsPerUser: 1 })).statusCode, 200)
  const auth = (sub: string) => ({ headers: { authorization: `Bearer ${token({ sub })}` } })
  const perUser = await handshake(srv.wsUrl, auth('ann'))
  t.equal(perUser.status, 429)
  t.match(JSON.parse(perUser.body), { error: 'TOO_MANY_CONNECTIONS', message: /user/ })
  t.equal((await patch(srv, { maxConnections: 2 })).statusCode, 200)
  const global = await handshake(srv.wsUrl, auth('cat'))
  t.equal(global.status, 503)
  t.equal((await patch(srv, { maxConnectionsPerIp: 1, maxConnections: null })).statusCode, 200)
  t.equal((await handshake(srv.wsUrl, auth('dan'))).status, 429, 'per IP')
  t.equal(a.ws.readyState, a.ws.OPEN, 'nobody was closed')
  t.equal(b.ws.readyState, b.ws.OPEN)
  await patch(srv, { maxConnectionsPerIp: null, maxConnectionsPerUser: null })
  t.equal((await handshake(srv.wsUrl, auth('ann'))).status, 101, 'raised again: accepted')
})

t.test('validation: 400 in the JSON error shape; 401/403', async (t) => {
  const srv = await listen(t, ENV)
  const bad = [{}, { pixelRate: 0 }, { pixelRate: -1 }, { pixelRate: 'fast' }, { pixelBurst: 1.5 }, { pixelBurst: 0 }, { maxConnections: 0 }, { maxConnectionsPerIp: 2000000 }, { guestPixelRatePerIp: 0 }, { nothing: 1 }]
  for (const body of bad) {
    const res = await patch(srv, body)
    t.equal(res.statusCode, 400, `${JSON.stringify(body)}: 400`)
    t.match(res.json(), { error: 'BAD_REQUEST', message: String })
  }
  t.equal((await srv.app.inject({ method: 'PATCH', url: '/api/admin/settings', headers: { ...asAdmin, 'content-type': 'application/json' }, payload: '{"pixelRate":' })).statusCode, 400)
  t.equal((await get(srv)).json().pixelRate, 200, 'nothing changed')
  t.equal((await patch(srv, { pixelRate: 1 }, {})).statusCode, 401)
  t.equal((await patch(srv, { pixelRate: 1 }, bearer({ role: 'painter' }))).statusCode, 403)
  t.equal((await srv.app.inject({ url: '/api/admin/settings', headers: bearer({ role: 'viewer' }) })).statusCode, 403)
})

t.test('kept across a restart: the stored value wins over the environment; null goes back to it', async (t) => {
  const srv = await listen(t, ENV)
  await patch(srv, { pixelRate: 0.0033, pixelBurst: 1, maxConnectionsPerUser: 3 })
  await srv.app.close()

  const again = await listen(t, { ...ENV, PIXEL_RATE: '500', DATA_DIR: srv.dataDir })
  t.match((await get(again)).json(), { pixelRate: 0.0033, pixelBurst: 1, maxConnectionsPerUser: 3 })
  const { c, hello } = await open(again, 'pat')
  t.teardown(() => c.close())
  t.match(hello.limits, { pixelRate: 0.0033, pixelBurst: 1 })
  c.send(pixel(1, 1, 1, 1, 1))
  await drew(c, 1, 1)
  c.send(pixel(2, 2, 1, 1, 1))
  t.ok((await c.next(isError('RATE_LIMITED'))).json.retryAfterMs > FIVE_MIN - 10_000, 'the cooldown holds after the restart')

  t.match((await patch(again, { pixelRate: null })).json(), { pixelRate: 500, pixelBurst: 1 }, 'null: the (new) environment value')
  // A stored value this server refuses (hand-edited) is skipped with a warning: the environment's value is used.
  again.app.db.prepare("UPDATE settings SET value = '-5' WHERE name = 'pixelBurst'").run()
  t.equal((await patch(again, { maxConnectionsPerUser: 4 })).json().pixelBurst, 100)
})

t.test('the seam: a settings event from the broker alone (as another node\'s change arrives) is applied here', async (t) => {
  const srv = await listen(t, ENV)
  const settings = { pixelRate: 0.5, pixelBurst: 2, guestPixelRatePerIp: 0.5, guestPixelBurstPerIp: 2, maxConnections: 10, maxConnectionsPerIp: 10, maxConnectionsPerUser: 10 }
  srv.app.broker.publish('settings', { type: 'settings', settings })
  t.same((await get(srv)).json(), settings)
  const { c, hello } = await open(srv, 'pat')
  t.teardown(() => c.close())
  t.match(hello.limits, { pixelRate: 0.5, pixelBurst: 2 })
})
