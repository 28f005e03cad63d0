// TRUST_PROXY over real sockets: X-Forwarded-For counts only when the peer
// is a trusted proxy, and then every per-IP limit (guest tokens, the other
// HTTP rate limits, the handshake rate, the per-IP connection cap) counts the
// client it names. Nothing is trusted by default.
import t from 'tap'
import { listen, token, TestClient, handshake, isHello } from './helper.js'
import { asAdmin } from './routes/api/helper.js'

const guest = (url: string, xff?: string) => fetch(`${url}/api/auth/guest`, {
  method: 'POST',
  headers: { 'content-type': 'application/json', ...(xff === undefined ? {} : { 'x-forwarded-for': xff }) },
  body: JSON.stringify({ name: 'Ann' })
}).then((r) => r.status)

/** n guest tokens in a row, each with its own X-Forwarded-For from `xff(i)`. */
async function guests (url: string, n: number, xff: (i: number) => string | undefined): Promise<number[]> {
  const statuses: number[] = []
  for (let i = 0; i < n; i++) statuses.push(await guest(url, xff(i)))
  return statuses
}

const TEN_OK = Array(10).fill(200)

t.test('TRUST_PROXY unset: X-Forwarded-For is ignored, the socket peer is the client', async (t) => {
  const srv = await listen(t)
  t.same(await guests(srv.url, 11, (i) => `203.0.113.${i}`), [...TEN_OK, 429], 'the 11th guest token from one socket IP gets 429 whatever XFF says')
})

t.test('an untrusted peer cannot spoof its address', async (t) => {
  const srv = await listen(t, { TRUST_PROXY: '10.0.0.0/8, 192.0.2.1' }) // the test's peer is 127.0.0.1
  t.same(await guests(srv.url, 11, (i) => `203.0.113.${i}`), [...TEN_OK, 429], 'XFF from a peer outside TRUST_PROXY is ignored')
})

t.test('TRUST_PROXY=127.0.0.1: each forwarded client has its own budget', async (t) => {
  const srv = await listen(t, { TRUST_PROXY: '127.0.0.1', API_RATE_LIMIT: '2' })
  t.same(await guests(srv.url, 11, () => '203.0.113.1'), [...TEN_OK, 429], 'one client: 429 on the 11th')
  t.equal(await guest(srv.url, '203.0.113.2'), 200, 'another client behind the same proxy: its own budget')
  t.equal(await guest(srv.url), 200, 'a request without XFF is the proxy itself: its own budget too')
  // A client cannot escape by prepending: the rightmost untrusted address counts.
  t.equal(await guest(srv.url, '198.51.100.7, 203.0.113.1'), 429, 'spoofed entries before the proxy-appended address do not help')
  t.equal(await guest(srv.url, '203.0.113.1, 127.0.0.1'), 429, 'a chain through trusted hops resolves to the same client')

  // The other HTTP limits count the same address.
  const health = (xff: string) => fetch(`${srv.url}/health`, { headers: { 'x-forwarded-for': xff } }).then((r) => r.status)
  t.same([await health('203.0.113.5'), await health('203.0.113.5'), await health('203.0.113.5')], [200, 200, 429], 'API_RATE_LIMIT per forwarded client')
  t.equal(await health('203.0.113.6'), 200, 'another forwarded client is not limited')
})

const as = (ip: string, sub: string) => ({ headers: { authorization: `Bearer ${token({ sub })}`, 'x-forwarded-for': ip } })

t.test('TRUST_PROXY=127.0.0.1: the per-IP connection cap counts forwarded clients', async (t) => {
  const srv = await listen(t, { TRUST_PROXY: '127.0.0.1', MAX_CONNECTIONS_PER_IP: '1' })
  const a = new TestClient(srv.wsUrl, as('198.51.100.1', 'a'))
  t.teardown(() => a.ws.terminate())
  await a.opened
  await a.next(isHello)
  const again = await handshake(srv.wsUrl, as('198.51.100.1', 'a2'))
  t.equal(again.status, 429, 'a second connection from the same client: 429')
  t.match(JSON.parse(again.body), { error: 'TOO_MANY_CONNECTIONS' }, 'by MAX_CONNECTIONS_PER_IP')
  const b = new TestClient(srv.wsUrl, as('198.51.100.2', 'b'))
  t.teardown(() => b.ws.terminate())
  await b.opened
  t.pass('a connection from another client behind the proxy is accepted')

  const list = await fetch(`${srv.url}/api/admin/connections`, { headers: asAdmin }).then((r) => r.json()) as Array<{ user: { id: string }, ip: string }>
  t.same(list.map((c) => [c.user.id, c.ip]).sort(), [['a', '198.51.100.1'], ['b', '198.51.100.2']], 'connections are listed with the forwarded client address')
})

t.test('TRUST_PROXY=127.0.0.1: the handshake rate counts forwarded clients', async (t) => {
  const srv = await listen(t, { TRUST_PROXY: '127.0.0.1', HANDSHAKE_RATE: '1' })
  // Sent together, so all three fall in one 1 s window.
  const [x1, x2, y] = await Promise.all([
    handshake(srv.wsUrl, as('198.51.100.1', 'x1')),
    handshake(srv.wsUrl, as('198.51.100.1', 'x2')),
    handshake(srv.wsUrl, as('198.51.100.2', 'y'))
  ])
  t.same([x1.status, x2.status].sort(), [101, 429], 'one client: its 2nd handshake in the second is refused')
  t.match(JSON.parse([x1, x2].find((r) => r.status === 429)?.body ?? '{}'), { error: 'RATE_LIMITED' }, 'by HANDSHAKE_RATE')
  t.equal(y.status, 101, 'another client behind the same proxy has its own rate')
})

t.test('TRUST_PROXY unset: the per-IP connection cap counts the socket peer', async (t) => {
  const srv = await listen(t, { MAX_CONNECTIONS_PER_IP: '1' })
  const a = new TestClient(srv.wsUrl, { headers: { authorization: `Bearer ${token({ sub: 'a' })}`, 'x-forwarded-for': '198.51.100.1' } })
  t.teardown(() => a.ws.terminate())
  await a.opened
  const other = await handshake(srv.wsUrl, { headers: { authorization: `Bearer ${token({ sub: 'b' })}`, 'x-forwarded-for': '198.51.100.2' } })
  t.equal(other.status, 429, 'a different XFF does not make a different client')
})
