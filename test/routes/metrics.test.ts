// GET /metrics over a real server while real clients draw: promtool accepts
// the whole scrape, and every pixelwire_ counter moved by exactly what the
// clients did.
import t from 'tap'
import {
  build, listen, token, handshake, TestClient, isHello, isSnapshot, isError, pixel, stroke, rect, collect
} from '../helper.js'
import promClient from 'prom-client'
import { promtoolCheck, samples, delta } from '../promtool.js'

const cursor = (x: number, y: number): Buffer => {
  const m = Buffer.alloc(5)
  m[0] = 3
  m.writeUInt16BE(x, 1); m.writeUInt16BE(y, 3)
  return m
}

async function until (cond: () => boolean, ms = 3000): Promise<void> {
  const end = Date.now() + ms
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met in time')
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
}

t.test('a scrape while clients draw passes promtool, and the counters move by exactly what happened', async (t) => {
  const srv = await listen(t, { TICK_MS: '20', PIXEL_RATE: '1', PIXEL_BURST: '20' })
  const scrape = async () => {
    const res = await fetch(`${srv.url}/metrics`)
    t.equal(res.status, 200)
    t.match(res.headers.get('content-type'), /^text\/plain/)
    return res.text()
  }
  const lint = async (text: string, what: string) => {
    const res = await promtoolCheck(text)
    t.equal(res.output, '', `promtool check metrics prints nothing on the ${what} scrape`)
    t.equal(res.code, 0, `promtool check metrics exits 0 on the ${what} scrape`)
  }
  const before = samples(await scrape())

  // What the clients send, by kind, as the server should count it.
  const sentIn: Record<string, { n: number, bytes: number }> = {}
  const send = (c: TestClient, kind: string, data: Buffer | string) => {
    sentIn[kind] ??= { n: 0, bytes: 0 }
    sentIn[kind].n++
    sentIn[kind].bytes += Buffer.byteLength(data)
    c.send(data)
  }

  // Five connections by snapshot: painters a and b, viewer v, and c and d that leave oddly.
  const a = new TestClient(srv.wsUrl, { token: token({ sub: 'a' }) })
  const b = new TestClient(srv.wsUrl, { token: token({ sub: 'b' }) })
  const v = new TestClient(srv.wsUrl, { token: token({ sub: 'v', role: 'viewer' }) })
  const c = new TestClient(srv.wsUrl, { token: token({ sub: 'c' }) })
  const d = new TestClient(srv.wsUrl, { token: token({ sub: 'd' }) })
  const all = [a, b, v, c, d]
  t.teardown(() => { for (const x of all) x.ws.terminate() })
  await Promise.all(all.map((x) => x.opened))
  await Promise.all(all.map((x) => x.next(isSnapshot)))

  // Four refused handshakes, each with its reason.
  t.equal((await handshake(srv.wsUrl)).status, 401, 'no token')
  t.equal((await handshake(srv.wsUrl, { headers: { authorization: `Bearer ${token({ sub: 'x' }, { secret: 'another-secret-another-secret-0123456789' })}` } })).status, 401, 'bad token')
  t.equal((await handshake(`${srv.wsUrl}?canvas=nope`, { headers: { authorization: `Bearer ${token({ sub: 'x' })}` } })).status, 404, 'unknown canvas')
  t.equal((await handshake(`${srv.wsUrl}?canvas=NOT!VALID`, { headers: { authorization: `Bearer ${token({ sub: 'x' })}` } })).status, 400, 'bad query')

  send(a, 'json', JSON.stringify({ type: 'subscribe', stream: 'chat:room' }))
  await a.next((m) => m.json?.type === 'subscribed')

  // Accepted: a 1 + 3 + 4 = 8 pixels, b 20 (its whole burst).
  send(a, 'pixel', pixel(1, 1, 255, 0, 0))
  send(a, 'stroke', stroke([[2, 1, 0, 255, 0], [3, 1, 0, 255, 0], [4, 1, 0, 255, 0]]))
  send(a, 'rect', rect(10, 10, 2, 2, 0, 0, 255))
  send(b, 'rect', rect(100, 100, 5, 4, 9, 9, 9))
  // Refused: 3 out of bounds, 3 forbidden, 5 rate-limited, 25 too large; a bad message paints nothing.
  send(a, 'pixel', pixel(2000, 0, 1, 1, 1))
  send(a, 'stroke', stroke([[5, 5, 1, 1, 1], [1024, 0, 1, 1, 1]]))
  send(v, 'rect', rect(0, 0, 3, 1, 1, 1, 1))
  send(b, 'stroke', stroke([[0, 2, 1, 1, 1], [1, 2, 1, 1, 1], [2, 2, 1, 1, 1], [3, 2, 1, 1, 1], [4, 2, 1, 1, 1]]))
  send(b, 'rect', rect(0, 0, 5, 5, 1, 1, 1))
  send(a, 'other', Buffer.from([0x07, 1, 2]))
  send(a, 'cursor', cursor(7, 7))
  send(a, 'json', JSON.stringify({ type: 'ping', id: 1 }))

  // Scraped while the draws are in flight: promtool must accept it as it is.
  const during = await scrape()
  await lint(during, 'mid-draw')
  const mid = samples(during)
  t.equal(mid.get('pixelwire_connections{canvas="main"}'), 5, 'connections gauge: five on main')
  t.equal(mid.get('pixelwire_stream_subscriptions{namespace="chat"}'), 1, 'one chat subscription')
  t.ok((mid.get('pixelwire_pending_send_bytes') ?? -1) >= 0, 'pending send bytes is reported')

  await collect(a, 28)
  await a.next(isError('OUT_OF_BOUNDS'))
  await a.next(isError('OUT_OF_BOUNDS'))
  await a.next(isError('BAD_MESSAGE'))
  await a.next((m) => m.json?.type === 'pong')
  await v.next(isError('FORBIDDEN'))
  await b.next(isError('RATE_LIMITED'))
  await b.next(isError('TOO_LARGE'))

  // A sixth connection resumes by replay.
  const seq = srv.app.canvases.get('main')!.seq
  const epoch = srv.app.canvases.get('main')!.epoch
  const e = new TestClient(`${srv.wsUrl}?since=${seq}&epoch=${epoch}`, { token: token({ sub: 'e' }) })
  all.push(e)
  await e.opened
  t.equal((await e.next(isHello)).json.resume, 'replay')

  // Closes: 1000 ×4, a client's own 4000 (kept as sent), a dropped socket (1006).
  for (const x of [a, b, v, e]) x.ws.close(1000)
  c.ws.close(4000)
  d.ws.terminate()
  await until(() => srv.app.connections.registry.size === 0)

  const text = await scrape()
  await lint(text, 'final')
  const grew = delta(before, samples(text))
  t.equal(grew('pixelwire_connections_accepted_total'), 6, 'six connections accepted')
  t.equal(grew('pixelwire_connections_rejected_total{reason="TOKEN_REQUIRED"}'), 1)
  t.equal(grew('pixelwire_connections_rejected_total{reason="INVALID_TOKEN"}'), 1)
  t.equal(grew('pixelwire_connections_rejected_total{reason="CANVAS_NOT_FOUND"}'), 1)
  t.equal(grew('pixelwire_connections_rejected_total{reason="BAD_REQUEST"}'), 1)
  t.equal(grew('pixelwire_connections_closed_total{code="1000"}'), 4)
  t.equal(grew('pixelwire_connections_closed_total{code="4000"}'), 1, 'a client\'s own code is kept as sent (contract §6)')
  t.equal(grew('pixelwire_connections_closed_total{code="other"}'), 0, 'not counted as other')
  t.equal(grew('pixelwire_connections_closed_total{code="1006"}'), 1)
  t.equal(grew('pixelwire_resumes_total{mode="snapshot"}'), 5)
  t.equal(grew('pixelwire_resumes_total{mode="replay"}'), 1)
  t.equal(grew('pixelwire_pixels_applied_total'), 28)
  t.equal(grew('pixelwire_pixels_rejected_total{reason="OUT_OF_BOUNDS"}'), 3)
  t.equal(grew('pixelwire_pixels_rejected_total{reason="FORBIDDEN"}'), 3)
  t.equal(grew('pixelwire_pixels_rejected_total{reason="RATE_LIMITED"}'), 5)
  t.equal(grew('pixelwire_pixels_rejected_total{reason="TOO_LARGE"}'), 25)
  t.equal(grew('pixelwire_pixels_rejected_total{reason="UNAVAILABLE"}'), 0)
  for (const [kind, { n, bytes }] of Object.entries(sentIn)) {
    t.equal(grew(`pixelwire_messages_received_total{kind="${kind}"}`), n, `${n} ${kind} messages received`)
    t.equal(grew(`pixelwire_received_bytes_total{kind="${kind}"}`), bytes, `${bytes} ${kind} bytes received`)
  }
  t.equal(grew('pixelwire_messages_sent_total{kind="snapshot"}'), 5, 'five snapshots sent')
  t.equal(grew('pixelwire_snapshots_sent_total'), 5)
  t.ok(grew('pixelwire_messages_sent_total{kind="updates"}') >= 5, 'UPDATES went to the five canvas clients')
  t.ok(grew('pixelwire_sent_bytes_total{kind="updates"}') >= 5 * (13 + 28 * 7), 'each got the 28 pixels: their bytes are counted')
  t.ok(grew('pixelwire_messages_sent_total{kind="json"}') >= 6 + 3, 'hellos and errors are JSON')
  t.ok(grew('pixelwire_messages_sent_total{kind="cursors"}') >= 1, 'the cursor was relayed')
  t.equal(grew('pixelwire_slow_consumer_closes_total'), 0)
  t.equal(grew('pixelwire_pixel_delay_seconds_count'), 4, 'one delay per accepted draw op')
  t.ok(grew('pixelwire_pixel_delay_seconds_sum') > 0)
  t.ok(grew('pixelwire_commit_duration_seconds_count') >= 1, 'commits were timed')
  t.ok(grew('pixelwire_tick_duration_seconds_count') >= 1, 'ticks were timed')
  const after = samples(text)
  t.equal(after.get('pixelwire_connections{canvas="main"}'), 0, 'everyone left')
  t.equal(after.get('pixelwire_stream_subscriptions{namespace="chat"}'), 0)
  t.ok([...after.keys()].some((k) => k.startsWith('nodejs_heap_size_used_bytes')), 'default process metrics are there')
  t.ok([...after.keys()].some((k) => k.startsWith('http_request_duration_seconds_count{method="GET",route="/ws",status_code="401"}')), 'route metrics are there')
})

t.test('two servers in one process report their own numbers', async (t) => {
  const a = await listen(t)
  const b = await listen(t)
  const c = new TestClient(a.wsUrl, { token: token({ sub: 'only-on-a' }) })
  t.teardown(() => c.close())
  await c.opened
  await c.next(isHello)
  const open = async (url: string) => [...samples(await (await fetch(`${url}/metrics`)).text())]
    .filter(([k]) => /^pixelwire_connections(\{|$)/.test(k)).reduce((n, [, v]) => n + v, 0)
  t.equal(await open(a.url), 1, 'a has the connection')
  t.equal(await open(b.url), 0, 'b, built after a, does not show it')
  const scrape = await (await fetch(`${b.url}/metrics`)).text()
  t.equal((await promtoolCheck(scrape)).code, 0, 'and its scrape is still promtool-clean')
})

t.test('the histograms kept as plain numbers scrape exactly as prom-client\'s own Histogram would', async (t) => {
  const { app } = await build(t)
  // Edge values on purpose: exactly on a bound (le is inclusive), below the
  // first, past the last (+Inf only), zero.
  const values = [0, 0.001, 0.005, 0.0051, 0.05, 0.075, 0.3, 1, 2.5, 2.6, 40]
  for (const v of values) app.meter.observe('pixelDelay', v)
  const registry = new promClient.Registry()
  const reference = new promClient.Histogram({
    name: 'pixelwire_pixel_delay_seconds',
    help: 'reference',
    buckets: [0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.25, 0.35, 0.5, 0.75, 1, 2.5],
    registers: [registry]
  })
  for (const v of values) reference.observe(v)
  const lines = (text: string) => text.split('\n').filter((l) => l.startsWith('pixelwire_pixel_delay_seconds'))
  const ours = lines((await app.inject('/metrics')).body)
  t.equal(ours.length, 17, '15 buckets (+Inf included), _sum and _count')
  t.same(ours, lines(await registry.metrics()), 'line for line the same exposition')
  t.ok(ours.includes('pixelwire_pixel_delay_seconds_bucket{le="0.005"} 3'), '0, 0.001 and 0.005 itself are in le=0.005')
  t.ok(ours.includes('pixelwire_pixel_delay_seconds_bucket{le="2.5"} 9'), '2.6 and 40 are past the last bound')
  t.ok(ours.includes('pixelwire_pixel_delay_seconds_count 11'))
})
