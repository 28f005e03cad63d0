// Slow and silent sockets are cut at the configured HTTP timeouts, over
// real TCP sockets, while the server goes on serving everyone else: headers
// trickled a byte every 200 ms (a plain request and a WebSocket upgrade), a
// socket that never says anything, a body trickled after complete headers,
// a socket that stops mid-body, and an idle keep-alive socket. No timing is
// asserted beyond "closed before a generous deadline" (the defaults would
// hold these sockets for a minute or more).
import { connect, type Socket } from 'node:net'
import t, { type Test } from 'tap'
import { listen, token, TestClient, isHello, isSnapshot, pixel, collect, type Listening } from '../helper.js'
import { within } from '../process.js'

const DEADLINE_MS = 10000

interface Raw { socket: Socket, received: () => string, closed: Promise<void>, stop: () => void }

/** A raw client; `trickle` (if any) is sent one byte per 200 ms after `head`, forever. */
function rawClient (t: Test, port: number, head: string, trickle?: () => string): Raw {
  const socket = connect(port, '127.0.0.1')
  let received = ''
  let timer: NodeJS.Timeout | undefined
  socket.on('data', (d: Buffer) => { received += d.toString() })
  socket.on('error', () => {})
  const closed = new Promise<void>((resolve) => socket.once('close', () => { clearInterval(timer); resolve() }))
  socket.once('connect', () => {
    if (head !== '') socket.write(head)
    if (trickle !== undefined) timer = setInterval(() => { if (socket.writable) socket.write(trickle()) }, 200)
  })
  const stop = () => { clearInterval(timer); socket.destroy() }
  t.teardown(stop)
  return { socket, received: () => received, closed, stop }
}

/** Endless header bytes: the blank line that ends the headers never comes. */
function endlessHeader (): () => string {
  let i = 0
  const line = 'X-Slow: ' + 'a'.repeat(40) + '\r\n'
  return () => line[i++ % line.length]
}

async function servesOthers (t: Test, srv: Listening) {
  const res = await fetch(`${srv.url}/health`)
  t.equal(res.status, 200, 'meanwhile the server answers other clients')
}

function assert408 (t: Test, raw: Raw, what: string) {
  const text = raw.received()
  t.match(text, /^HTTP\/1\.1 408 Request Timeout\r\n/, `${what}: 408`)
  t.same(JSON.parse(text.slice(text.indexOf('\r\n\r\n') + 4)), { error: 'TIMEOUT', message: 'the request was not received in time' }, `${what}: the usual error shape`)
}

t.test('trickled headers are cut at HTTP_HEADERS_TIMEOUT_MS, a WebSocket upgrade too', async (t) => {
  const srv = await listen(t, { HTTP_HEADERS_TIMEOUT_MS: '1000', HTTP_REQUEST_TIMEOUT_MS: '60000' })
  const plain = rawClient(t, srv.port, 'GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n', endlessHeader())
  const upgrade = rawClient(t, srv.port, 'GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
    'Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n', endlessHeader())
  const byteByByte = rawClient(t, srv.port, '', (() => {
    const request = 'GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n'
    const rest = endlessHeader()
    let i = 0
    return () => i < request.length ? request[i++] : rest()
  })())
  await servesOthers(t, srv)
  await within(Promise.all([plain.closed, upgrade.closed, byteByByte.closed]), DEADLINE_MS, 'slow sockets closed')
  assert408(t, plain, 'trickled GET')
  assert408(t, upgrade, 'trickled upgrade')
  assert408(t, byteByByte, 'upgrade sent a byte at a time from the first')
  await servesOthers(t, srv)
})

t.test('a silent socket is cut at HTTP_HEADERS_TIMEOUT_MS', async (t) => {
  const srv = await listen(t, { HTTP_HEADERS_TIMEOUT_MS: '1000' })
  const silent = rawClient(t, srv.port, '')
  await within(silent.closed, DEADLINE_MS, 'silent socket closed')
  assert408(t, silent, 'silent socket')
  await servesOthers(t, srv)
})

t.test('a trickled body is cut at HTTP_REQUEST_TIMEOUT_MS', async (t) => {
  const srv = await listen(t, { HTTP_HEADERS_TIMEOUT_MS: '1000', HTTP_REQUEST_TIMEOUT_MS: '1500' })
  const body = rawClient(t, srv.port, 'POST /api/auth/guest HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"name":"', () => 'a')
  await within(body.closed, DEADLINE_MS, 'slow body closed')
  assert408(t, body, 'trickled body')
  await servesOthers(t, srv)
})

t.test('a socket silent mid-request is cut at HTTP_IDLE_TIMEOUT_MS', async (t) => {
  const srv = await listen(t, { HTTP_IDLE_TIMEOUT_MS: '1000', HTTP_HEADERS_TIMEOUT_MS: '60000', HTTP_REQUEST_TIMEOUT_MS: '60000' })
  const stalled = rawClient(t, srv.port, 'POST /api/auth/guest HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"name":"')
  await within(stalled.closed, DEADLINE_MS, 'stalled socket closed')
  t.equal(stalled.received(), '', 'closed without an answer (the socket was silent, not slow)')
  await servesOthers(t, srv)
})

t.test('an idle keep-alive socket is closed at HTTP_KEEPALIVE_TIMEOUT_MS', async (t) => {
  const srv = await listen(t, { HTTP_KEEPALIVE_TIMEOUT_MS: '1000' })
  const idle = rawClient(t, srv.port, 'GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n')
  await within(idle.closed, DEADLINE_MS, 'idle socket closed')
  t.match(idle.received(), /^HTTP\/1\.1 200 OK\r\n[\s\S]*keep-alive: timeout=1\r\n/i, 'answered, and told the keep-alive timeout')
  t.match(idle.received(), /\{"status":"ok"\}$/, 'one response, then the close')
})

t.test('an open WebSocket outlives every HTTP timeout', async (t) => {
  const srv = await listen(t, { HTTP_HEADERS_TIMEOUT_MS: '500', HTTP_REQUEST_TIMEOUT_MS: '500', HTTP_IDLE_TIMEOUT_MS: '500', HTTP_KEEPALIVE_TIMEOUT_MS: '500', TICK_MS: '20' })
  const c = new TestClient(srv.wsUrl, { token: token({ sub: 'quiet' }) })
  t.teardown(() => c.ws.terminate())
  await c.opened
  await c.next(isHello)
  await c.next(isSnapshot)
  // Silent for several times every deadline (and Node's 1 s check).
  await new Promise((resolve) => setTimeout(resolve, 3000))
  t.equal(c.ws.readyState, c.ws.OPEN, 'still open')
  c.send(pixel(3, 4, 5, 6, 7))
  t.same((await collect(c, 1)).px, [[3, 4, 5, 6, 7]], 'and still served')
})
