// POST /api/auth/guest: short-lived painter tokens (contract §7).
import t from 'tap'
import { createVerifier } from 'fast-jwt'
import { build, listen, SECRET, TestClient, isHello, isSnapshot, pixel, collect } from '../../helper.js'

const verify = createVerifier({ key: SECRET, algorithms: ['HS256'] })
const guest = (app: Awaited<ReturnType<typeof build>>['app'], payload: unknown, ip = '127.0.0.1') =>
  app.inject({ method: 'POST', url: '/api/auth/guest', payload: payload as object, remoteAddress: ip })

t.test('a guest token: painter, guest:<random> sub, trimmed name, exp in one hour', async (t) => {
  const { app } = await build(t)
  const before = Math.floor(Date.now() / 1000)
  const res = await guest(app, { name: '  Zoë 🎨  ' })
  t.equal(res.statusCode, 200)
  t.same(Object.keys(res.json()), ['token'])
  const claims = verify(res.json().token)
  t.match(claims, { name: 'Zoë 🎨', role: 'painter', sub: /^guest:[A-Za-z0-9_-]{16}$/ })
  t.ok(claims.exp >= before + 3600 && claims.exp <= Math.floor(Date.now() / 1000) + 3600, 'exp = now + 1 h')
  const other = verify((await guest(app, { name: 'Zoë 🎨' })).json().token)
  t.not(other.sub, claims.sub, 'every guest is a new user')
  t.same(app.verifyToken(res.json().token), { id: claims.sub, name: 'Zoë 🎨', role: 'painter', exp: claims.exp }, 'the server accepts it')
  t.equal(verify((await guest(app, { name: 'x'.repeat(32) })).json().token).name, 'x'.repeat(32), '32 characters')
  t.equal(verify((await guest(app, { name: '👨‍👩‍👧' })).json().token).name, '👨‍👩‍👧', 'emoji with zero-width joiners')
})

t.test('the token opens /ws as a painter that can draw', async (t) => {
  const srv = await listen(t, { TICK_MS: '20', DEFAULT_CANVAS_WIDTH: '16', DEFAULT_CANVAS_HEIGHT: '16' })
  const { token } = (await guest(srv.app, { name: 'Pat' })).json()
  const c = new TestClient(srv.wsUrl, { token })
  t.teardown(() => c.close())
  await c.opened
  const hello = (await c.next(isHello)).json
  t.match(hello.user, { id: /^guest:/, name: 'Pat', role: 'painter' })
  await c.next(isSnapshot)
  c.send(pixel(1, 2, 3, 4, 5))
  t.same((await collect(c, 1)).px, [[1, 2, 3, 4, 5]])
  t.equal((await srv.app.inject('/api/canvases/main/pixels/1/2')).json().user, hello.user.id)
})

t.test('bad bodies are 400 with the JSON error shape', async (t) => {
  const { app } = await build(t)
  const bad: unknown[] = [
    {}, { name: '' }, { name: '   ' }, { name: 'x'.repeat(33) }, { name: ` ${'é'.repeat(33)} ` },
    { name: 'a\nb' }, { name: 'tab\there' }, { name: 'nul\u0000' }, { name: 'rtl\u202eevil' }, { name: 'zw\u200bsp' },
    { name: 'del\u007f' }, { name: 'line\u2028sep' }, { name: 'pua\ue000' }, { name: null }, { name: { a: 1 } }, { name: 'x'.repeat(300) }
  ]
  for (const [i, body] of bad.entries()) {
    const res = await guest(app, body, `10.1.0.${i}`) // one IP per try: the limiter counts refusals too
    // ASCII-only labels: a raw U+2028 would break the TAP stream
    const label = JSON.stringify(body).replace(/[^\x20-\x7e]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`).slice(0, 60)
    t.equal(res.statusCode, 400, label)
    t.match(res.json(), { error: 'BAD_REQUEST', message: String }, label)
  }
  const notJson = await app.inject({ method: 'POST', url: '/api/auth/guest', payload: 'name=x', headers: { 'content-type': 'application/x-www-form-urlencoded' } })
  t.equal(notJson.statusCode, 415)
  t.equal(notJson.json().error, 'UNSUPPORTED_MEDIA_TYPE')
  const broken = await app.inject({ method: 'POST', url: '/api/auth/guest', payload: '{"name":', headers: { 'content-type': 'application/json' } })
  t.same([broken.statusCode, broken.json().error], [400, 'BAD_REQUEST'])
})

t.test('rate-limited per IP: the 11th in a minute is 429 with Retry-After', async (t) => {
  const { app } = await build(t)
  for (let i = 0; i < 10; i++) {
    const res = await guest(app, { name: `n${i}` }, '10.0.0.1')
    t.equal(res.statusCode, 200)
    t.equal(res.headers['x-ratelimit-remaining'], String(9 - i))
  }
  const limited = await guest(app, { name: 'n10' }, '10.0.0.1')
  t.equal(limited.statusCode, 429)
  t.match(limited.json(), { error: 'RATE_LIMITED', message: /rate limit exceeded/ })
  t.ok(Number(limited.headers['retry-after']) > 0 && Number(limited.headers['retry-after']) <= 60, 'Retry-After in seconds')
  t.equal((await guest(app, { name: 'n' }, '10.0.0.2')).statusCode, 200, 'another IP is not limited')
  t.equal((await app.inject('/api/canvases')).statusCode, 200, 'each route has its own budget')
})

t.test('GET /api/auth/options says whether anonymous viewers may connect', async (t) => {
  for (const anonymous of ['off', 'read']) {
    const { app } = await build(t, { ANONYMOUS: anonymous })
    const res = await app.inject('/api/auth/options')
    t.equal(res.statusCode, 200)
    t.same(res.json(), { anonymous }, `ANONYMOUS=${anonymous}`)
  }
})
