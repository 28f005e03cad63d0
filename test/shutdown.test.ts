// The SIGTERM drain of a real server process, with traffic arriving during
// it: a WebSocket upgrade gets the contract's 503 (and its socket is let go,
// so the drain cannot hang on it), /health stays 200 (liveness) while
// /health/ready names `draining`, the open client gets 1001, the process
// exits 0 and the WAL is checkpointed away.
import { existsSync, statSync } from 'node:fs'
import { join } from 'node:path'
import type { Socket } from 'node:net'
import t from 'tap'
import { tempDir, token, TestClient, SECRET, isHello, isSnapshot, collect, pixel, handshake } from './helper.js'
import { startServer, within, logLines } from './process.js'

/** Poll until pred(answer) holds; bounded by ms (then the last answer is returned). */
async function pollUntil (url: string, pred: (status: number, body: string) => boolean, ms: number): Promise<{ status: number, body: string }> {
  const end = Date.now() + ms
  for (;;) {
    const res = await fetch(url)
    const out = { status: res.status, body: await res.text() }
    if (pred(out.status, out.body) || Date.now() > end) return out
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}

t.test('SIGTERM with an upgrade during the drain: 503 in the contract shape, 1001, exit 0, no WAL left', async (t) => {
  const dataDir = tempDir(t)
  // SHUTDOWN_TIMEOUT_MS 20 s: the drain waits up to 10 s for close handshakes,
  // longer than this test needs, so anything it sees happens within the drain.
  const server = await startServer(t, { DATA_DIR: dataDir, JWT_SECRET: SECRET, TICK_MS: '20', SHUTDOWN_TIMEOUT_MS: '20000' })
  const base = `http://127.0.0.1:${server.port}`
  const painter = new TestClient(server.ws, { token: token({ sub: 'painter' }) })
  t.teardown(() => painter.ws.terminate())
  await within(painter.opened, 5000, 'painter open')
  await painter.next(isHello)
  await painter.next(isSnapshot, 5000)
  painter.send(pixel(3, 4, 5, 6, 7))
  t.same((await collect(painter, 1, 5000)).px, [[3, 4, 5, 6, 7]], 'a pixel committed: the WAL has something in it')

  // The painter stops reading: it will not answer the server's close frame
  // until it reads again, so the drain stays open while the test looks at it.
  const raw = (painter.ws as unknown as { _socket: Socket })._socket
  raw.pause()
  server.child.kill('SIGTERM')

  const ready = await pollUntil(`${base}/health/ready`, (_s, body) => body.includes('draining'), 8000)
  t.equal(ready.status, 503, '/health/ready is 503 while draining')
  const readyBody = JSON.parse(ready.body)
  t.match(readyBody, { error: 'NOT_READY', message: /draining/, checks: { draining: 'server is draining' } }, 'and names the draining check')

  const live = await fetch(`${base}/health`)
  t.equal(live.status, 200, '/health is 200 while draining (liveness)')
  t.same(await live.json(), { status: 'ok' })

  const res = await within(handshake(server.ws, { headers: { authorization: `Bearer ${token({ sub: 'late' })}` } }), 5000, 'handshake during the drain')
  t.equal(res.status, 503, 'an upgrade during the drain: 503')
  t.ok(Number(res.headers['retry-after']) > 0, `with Retry-After (${String(res.headers['retry-after'])})`)
  t.same(JSON.parse(res.body), { error: 'UNAVAILABLE', message: 'server is draining' }, 'in the contract shape {error, message}')

  raw.resume()
  const closed = await within(painter.closed, 15000, 'painter close')
  t.equal(closed.code, 1001, 'the open client gets 1001')
  // Bounded far above a normal exit (~0.5 s) and below the 20 s grace after which close-with-grace exits 1.
  const exit = await within(server.exited, 15000, 'exit after SIGTERM')
  t.same(exit, { code: 0, signal: null }, 'exit code 0')
  t.notOk(logLines(server.out()).some((l) => /killed by timeout/.test(String(l.msg))), 'not killed by the shutdown timeout')
  t.equal(server.err(), '', 'nothing on stderr')
  const wal = join(dataDir, 'pixelwire.db-wal')
  t.ok(!existsSync(wal) || statSync(wal).size === 0, 'no pixelwire.db-wal left behind')
})
