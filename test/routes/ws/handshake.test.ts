// Every refusal of contract §1 is plain HTTP with {"error","message"} before
// the upgrade; no socket is ever opened and then closed instead.
import { createHmac } from 'node:crypto'
import { PassThrough } from 'node:stream'
import t from 'tap'
import { listen, token, handshake, TestClient, isHello, SECRET, until } from '../../helper.js'

const b64 = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url')
function rawJwt (header: object, claims: object, key = SECRET, hash = 'sha256'): string {
  const head = b64(header) + '.' + b64(claims)
  return head + '.' + createHmac(hash, key).update(head).digest('base64url')
}
const now = () => Math.floor(Date.now() / 1000)

t.test('token refusals are 401 with a JSON body', async (t) => {
  const srv = await listen(t)
  const bearer = (tok: string) => ({ headers: { authorization: `Bearer ${tok}` } })
  const cases: Array<[string, { headers?: Record<string, string>, protocols?: string[] }, string]> = [
    ['no token', {}, 'TOKEN_REQUIRED'],
    ['garbage', bearer('garbage.token.here'), 'INVALID_TOKEN'],
    ['wrong key', bearer(token({}, { secret: 'another-secret-another-secret-another' })), 'INVALID_TOKEN'],
    ['expired', bearer(rawJwt({ alg: 'HS256', typ: 'JWT' }, { sub: 'x', exp: now() - 600 })), 'TOKEN_EXPIRED'],
    ['HS512', bearer(rawJwt({ alg: 'HS512', typ: 'JWT' }, { sub: 'x', exp: now() + 600 }, SECRET, 'sha512')), 'INVALID_TOKEN'],
    ['alg none', bearer(b64({ alg: 'none', typ: 'JWT' }) + '.' + b64({ sub: 'x', exp: now() + 600 }) + '.'), 'INVALID_TOKEN'],
    ['no exp', bearer(rawJwt({ alg: 'HS256', typ: 'JWT' }, { sub: 'x' })), 'INVALID_TOKEN'],
    ['no sub', bearer(rawJwt({ alg: 'HS256', typ: 'JWT' }, { exp: now() + 600 })), 'INVALID_TOKEN'],
    ['unknown role', bearer(token({ role: 'root' })), 'INVALID_TOKEN'],
    ['bad subprotocol token', { protocols: ['pixelwire.v1', 'bearer.nope'] }, 'INVALID_TOKEN']
  ]
  for (const [name, opts, code] of cases) {
    const r = await handshake(srv.wsUrl, opts)
    t.equal(r.status, 401, name)
    t.match(JSON.parse(r.body), { error: code, message: String }, name)
  }
})

t.test('the token may come from the header, the subprotocol or the query', async (t) => {
  const srv = await listen(t)
  const tok = token({ sub: 'q', role: 'viewer' })
  const viaQuery = new TestClient(`${srv.wsUrl}?token=${tok}`)
  await viaQuery.opened
  t.match((await viaQuery.next(isHello)).json.user, { id: 'q', role: 'viewer' })
  viaQuery.close()
  const viaProto = new TestClient(srv.wsUrl, { protocols: ['pixelwire.v1', `bearer.${tok}`] })
  await viaProto.opened
  t.equal(viaProto.ws.protocol, 'pixelwire.v1', 'server selects pixelwire.v1')
  t.match((await viaProto.next(isHello)).json.user, { id: 'q' })
  viaProto.close()
  const defaults = new TestClient(srv.wsUrl, { token: token({ sub: 'd' }) })
  await defaults.opened
  t.match((await defaults.next(isHello)).json.user, { id: 'd', name: 'd', role: 'painter' }, 'role defaults to painter, name to sub')
  defaults.close()
})

t.test('malformed query is 400, unknown canvas 404', async (t) => {
  const srv = await listen(t)
  const auth = { headers: { authorization: `Bearer ${token()}` } }
  for (const q of ['canvas=BAD!!', 'canvas=' + 'a'.repeat(33), 'canvas=', 'since=-1', 'since=abc', 'since=1.5', 'since=99999999999999999999']) {
    const r = await handshake(`${srv.wsUrl}?${q}`, auth)
    t.equal(r.status, 400, q)
    t.match(JSON.parse(r.body), { error: 'BAD_REQUEST', message: String }, q)
  }
  const r = await handshake(`${srv.wsUrl}?canvas=no-such-canvas`, auth)
  t.equal(r.status, 404)
  t.match(JSON.parse(r.body), { error: 'CANVAS_NOT_FOUND', message: /no-such-canvas/ })
})

t.test('Origin is checked against the allow-list and the own origin', async (t) => {
  const srv = await listen(t, { ALLOWED_ORIGINS: 'https://draw.example, https://other.example' })
  const h = (origin: string) => ({ headers: { authorization: `Bearer ${token()}`, origin } })
  const bad = await handshake(srv.wsUrl, h('https://evil.example'))
  t.equal(bad.status, 403)
  t.match(JSON.parse(bad.body), { error: 'ORIGIN_FORBIDDEN' })
  t.equal((await handshake(srv.wsUrl, h('null'))).status, 403, 'opaque origin refused')
  t.equal((await handshake(srv.wsUrl, h('https://other.example'))).status, 101)
  t.equal((await handshake(srv.wsUrl, h(srv.url))).status, 101, 'own origin is always allowed')
  t.equal((await handshake(srv.wsUrl, { headers: { authorization: `Bearer ${token()}` } })).status, 101, 'no Origin: non-browser client with a token')
})

t.test('anonymous access: 401 by default, read-only viewer with ANONYMOUS=read', async (t) => {
  const srv = await listen(t, { ANONYMOUS: 'read' })
  const c = new TestClient(srv.wsUrl)
  await c.opened
  t.match((await c.next(isHello)).json.user, { role: 'viewer', name: 'anonymous' })
  c.close()
})

t.test('connection caps answer before the upgrade with Retry-After', async (t) => {
  const srv = await listen(t, { MAX_CONNECTIONS_PER_USER: '1' })
  const a = new TestClient(srv.wsUrl, { token: token({ sub: 'same' }) })
  await a.opened
  t.teardown(() => a.close())
  const r = await handshake(srv.wsUrl, { headers: { authorization: `Bearer ${token({ sub: 'same' })}` } })
  t.equal(r.status, 429)
  t.equal(r.headers['retry-after'], '10')
  t.equal((await handshake(srv.wsUrl, { headers: { authorization: `Bearer ${token({ sub: 'other' })}` } })).status, 101)

  const srv2 = await listen(t, { MAX_CONNECTIONS: '1' })
  const b = new TestClient(srv2.wsUrl, { token: token({ sub: 'b' }) })
  await b.opened
  t.teardown(() => b.close())
  const r2 = await handshake(srv2.wsUrl, { headers: { authorization: `Bearer ${token({ sub: 'c' })}` } })
  t.equal(r2.status, 503)
  t.ok(Number(r2.headers['retry-after']) > 0)
})

t.test('no token ever reaches a log line', async (t) => {
  const lines: string[] = []
  const stream = new PassThrough()
  stream.on('data', (d: Buffer) => lines.push(d.toString()))
  const srv = await listen(t, {}, stream)
  const tok = token({ sub: 'secretive' })
  const sig = tok.split('.')[2]
  const c1 = new TestClient(`${srv.wsUrl}?token=${tok}&canvas=main`)
  await c1.opened
  await c1.next(isHello)
  const c2 = new TestClient(srv.wsUrl, { protocols: ['pixelwire.v1', `bearer.${tok}`] })
  await c2.opened
  const c3 = new TestClient(srv.wsUrl, { token: tok })
  await c3.opened
  await handshake(`${srv.wsUrl}?token=${tok}&canvas=BAD!!`)
  await handshake(`${srv.wsUrl}?canvas=nope&token=${tok}`)
  c1.close(); c2.close(); c3.close()
  // Every line is in once the server has let all three go (their close lines
  // last) and the stream has passed them on: wait for that, not a guessed time.
  await Promise.all([c1.closed, c2.closed, c3.closed])
  await until(() => srv.app.connections.registry.size === 0, 10000, 'the server let them go')
  await new Promise((resolve) => setTimeout(resolve, 100))
  const all = lines.join('')
  t.ok(all.includes('incoming request'), 'request logging is on at this level')
  t.ok(all.includes('token=[redacted]'), 'the query token is replaced')
  t.notOk(all.includes(sig), 'the token signature appears in no log line')
  t.notOk(all.includes(tok.split('.')[1]), 'the token claims appear in no log line')
})
