// Limits and faults after the upgrade (contract §5–6): budgets, abuse
// closes, token expiry and replacement, slow consumers, storage faults.
// Each case also shows that a well-behaved client still draws afterwards.
import Database from 'better-sqlite3'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import {
  listen, token, handshake, TestClient, isHello, isSnapshot, isUpdates, isError,
  parseUpdates, pixel, stroke, rect, collect, until, type Listening, type Msg
} from '../../helper.js'

// Two cases flood 11 MB of UPDATES to two or three clients each: ~25 s and
// ~17 s of this file's ~57 s with three copies at once at load ~12, and the
// whole file twice that at load ~35 - over the 120 s per file of package.json.
t.setTimeout(360000)

async function ready (c: TestClient): Promise<void> {
  await c.opened
  await c.next(isHello)
  await c.next(isSnapshot)
}

/**
 * After a storage fault the breaker refuses draws at intake until its probe
 * finds the database writable again (issue 13 point 8): wait for readiness
 * (the storage check) before a draw is expected to go through.
 */
async function untilReady (t: Test, srv: Listening): Promise<void> {
  let status = 0
  await until(async () => (status = (await srv.app.inject('/health/ready')).statusCode) === 200, 20000, 'ready').catch(() => {})
  t.equal(status, 200, 'ready again once storage is')
}

async function stillDraws (t: Test, srv: Listening): Promise<void> {
  await untilReady(t, srv)
  const c = new TestClient(srv.wsUrl, { token: token({ sub: `well-behaved-${Math.random()}` }) })
  await ready(c)
  c.send(pixel(500, 500, 1, 2, 3))
  // Earlier clients' last changes may still arrive first.
  const mine = await c.next((m) => isUpdates(m) && parseUpdates(m.bin as Buffer).px.some((p) => p.join() === '500,500,1,2,3'))
  t.ok(mine, 'a well-behaved client still draws')
  c.close()
}

t.test('handshake rate limit per IP: 429 with Retry-After', async (t) => {
  const srv = await listen(t, { HANDSHAKE_RATE: '3' })
  const h = { headers: { authorization: `Bearer ${token()}` } }
  const statuses = []
  for (let i = 0; i < 4; i++) statuses.push(await handshake(srv.wsUrl, h))
  t.same(statuses.map((r) => r.status), [101, 101, 101, 429])
  t.match(JSON.parse(statuses[3].body), { error: 'RATE_LIMITED', message: /rate limit/ })
  t.ok(Number(statuses[3].headers['retry-after']) >= 1)
  await new Promise((resolve) => setTimeout(resolve, 1100))
  t.equal((await handshake(srv.wsUrl, h)).status, 101, 'allowed again after the window')
})

t.test('pixel budget: shared by a user\'s connections, excess rejected and never applied', async (t) => {
  const srv = await listen(t, { TICK_MS: '20', PIXEL_RATE: '10', PIXEL_BURST: '20' })
  const a1 = new TestClient(srv.wsUrl, { token: token({ sub: 'same' }) })
  const a2 = new TestClient(srv.wsUrl, { token: token({ sub: 'same' }) })
  const watcher = new TestClient(srv.wsUrl, { token: token({ sub: 'w', role: 'viewer' }) })
  await Promise.all([ready(a1), ready(a2), ready(watcher)])
  t.teardown(() => { a1.close(); a2.close(); watcher.close() })
  a1.send(stroke(Array.from({ length: 15 }, (_, i) => [i, 0, 1, 1, 1] as [number, number, number, number, number])))
  a2.send(rect(0, 1, 5, 1, 2, 2, 2)) // 5 more: exactly the burst
  a2.send(pixel(0, 2, 3, 3, 3)) // one too many, from the other connection
  const limited = (await a2.next(isError('RATE_LIMITED'))).json
  t.ok(limited.retryAfterMs > 0 && limited.retryAfterMs <= 100, `retryAfterMs ${limited.retryAfterMs}`)
  const seen = await collect(watcher, 20)
  t.equal(seen.px.length, 20)
  t.ok(await watcher.nothing(isUpdates, 200), 'the rejected pixel is not broadcast')
  t.equal(srv.app.canvasStore.get('main')?.seq, 20, 'and not persisted')
  await new Promise((resolve) => setTimeout(resolve, 150))
  a1.send(pixel(0, 2, 3, 3, 3))
  t.same((await collect(watcher, 1)).px, [[0, 2, 3, 3, 3]], 'the bucket refills at PIXEL_RATE')
  a1.send(rect(0, 0, 5, 5, 1, 1, 1))
  t.match((await a1.next(isError('TOO_LARGE'))).json.message, /budget of 20/, 'an op larger than the bucket is TOO_LARGE')
})

t.test('admins are exempt from the pixel budget', async (t) => {
  const srv = await listen(t, { TICK_MS: '20', PIXEL_RATE: '1', PIXEL_BURST: '1' })
  const admin = new TestClient(srv.wsUrl, { token: token({ sub: 'root', role: 'admin' }) })
  await ready(admin)
  t.teardown(() => admin.close())
  admin.send(rect(0, 0, 10, 10, 4, 4, 4))
  t.equal((await collect(admin, 100)).seq, 100)
})

t.test('sustained rate-limit abuse closes with 4429', async (t) => {
  const srv = await listen(t, { PIXEL_RATE: '1', PIXEL_BURST: '1', RATE_ABUSE_LIMIT: '5' })
  const c = new TestClient(srv.wsUrl, { token: token({ sub: 'greedy' }) })
  await ready(c)
  for (let i = 0; i < 10; i++) c.send(pixel(i, 0, 0, 0, 0))
  const closed = await c.closed
  t.equal(closed.code, 4429)
  t.equal(closed.reason, 'rate limit abuse')
  await stillDraws(t, srv)
})

t.test('too many bad messages closes with 4400', async (t) => {
  const srv = await listen(t, { BAD_MESSAGE_LIMIT: '5' })
  const c = new TestClient(srv.wsUrl, { token: token({ sub: 'sloppy' }) })
  await ready(c)
  for (let i = 0; i < 5; i++) c.send('{nope')
  for (let i = 0; i < 5; i++) await c.next(isError('BAD_MESSAGE'))
  t.equal(c.ws.readyState, c.ws.OPEN, 'within the budget the connection lives')
  c.send(Buffer.from([0x7f]))
  const closed = await c.closed
  t.equal(closed.code, 4400)
  await stillDraws(t, srv)
})

/** The exp (seconds) a token carries. */
const expOf = (tok: string): number => JSON.parse(Buffer.from(tok.split('.')[1], 'base64url').toString()).exp

/**
 * Two connections whose tokens share one short life, signed right before
 * connecting; `renewed` then tries three bad replacements and one good one.
 * The life must outlast the handshakes and those four round trips, and on a
 * loaded machine (load ~35) even 1 s did not cover the handshake (HTTP 401).
 * No fixed life suits both an idle and a loaded machine, so an attempt whose
 * setup the clock overtook (a handshake refused, or `renewed` closed at exp
 * before its replacement was acknowledged) returns null and the caller tries
 * again with twice the life. What is checked afterwards is unchanged.
 */
async function expiring (srv: Listening, ttlSec: number) {
  const shortToken = token({ sub: 'brief' }, { ttlSec })
  const renewedToken = token({ sub: 'renewer' }, { ttlSec })
  const short = new TestClient(srv.wsUrl, { token: shortToken })
  const renewed = new TestClient(srv.wsUrl, { token: renewedToken })
  const overtaken = () => { short.close(); renewed.close(); return null }
  try {
    await Promise.all([ready(short), ready(renewed)])
  } catch (err) {
    if (/HTTP 401/.test((err as Error).message)) return overtaken()
    throw err
  }
  // A reply, or null once `renewed` is closed for expiry (its token ran out first).
  const reply = async (pred: (m: Msg) => boolean) => {
    const r = await Promise.race([renewed.next(pred, 30000).then((m) => ({ m })), renewed.closed.then((c) => ({ c }))])
    if ('m' in r) return r.m.json
    if (r.c.code === 4401) return null
    throw new Error(`renewed closed with ${r.c.code} during its setup`)
  }
  renewed.send(JSON.stringify({ type: 'auth', token: token({ sub: 'someone-else' }) }))
  const otherSub = await reply(isError('FORBIDDEN'))
  renewed.send(JSON.stringify({ type: 'auth', token: 'garbage' }))
  const garbage = await reply(isError('FORBIDDEN'))
  renewed.send(JSON.stringify({ type: 'auth', token: token({ sub: 'renewer' }, { ttlSec: 0 }) }))
  const earlier = await reply(isError('FORBIDDEN'))
  renewed.send(JSON.stringify({ type: 'auth', token: token({ sub: 'renewer', role: 'viewer' }, { ttlSec: 3600 }) }))
  const ack = await reply((m) => m.json?.type === 'authenticated')
  if (otherSub === null || garbage === null || earlier === null || ack === null) return overtaken()
  return { short, renewed, original: expOf(renewedToken), shortExp: expOf(shortToken), otherSub, garbage, earlier, ack }
}

t.test('a token that expires unreplaced closes with 4401; a replaced one lives on', async (t) => {
  const srv = await listen(t, { TOKEN_GRACE_MS: '0', SLOW_CLIENT_TIMEOUT_MS: '200' })
  let r = null
  for (let ttlSec = 2; r === null; ttlSec *= 2) {
    if (ttlSec > 32) throw new Error('no attempt got through its setup before its tokens expired')
    r = await expiring(srv, ttlSec)
  }
  const { short, renewed, original } = r
  t.teardown(() => renewed.close())

  t.match(r.otherSub.message, /another sub/)
  t.match(r.garbage.message, /not valid/)
  t.match(r.earlier.message, /later|not valid/, 'an earlier exp is refused')
  t.ok(r.ack.exp > original + 3000, 'acknowledged with the new exp')
  t.equal(r.ack.role, 'viewer')

  const closed = await short.closed
  t.equal(closed.code, 4401)
  t.ok(Date.now() > r.shortExp * 1000, 'closed only once its exp had passed')
  // `renewed`'s first token was signed a moment after `short`'s and may carry
  // the next second: wait until it is past too, then give the sweep that closed
  // `short` time to (not) close `renewed`.
  await until(() => Date.now() > original * 1000, 5000, 'the replaced token\'s exp')
  await new Promise((resolve) => setTimeout(resolve, 500))
  t.equal(renewed.ws.readyState, renewed.ws.OPEN, 'the replaced token keeps its connection')
  renewed.send(pixel(1, 1, 1, 1, 1))
  t.ok(await renewed.next(isError('FORBIDDEN')), 'the new token\'s role applies')
})

type Px = [number, number, number, number, number]
const sock = (c: TestClient) => (c.ws as unknown as { _socket: { pause (): void, resume (): void } })._socket

/**
 * ~1.6 M pixels (11 MB of UPDATES) in 400 admin fills: far more than the
 * kernel buffers plus a 256 KiB send buffer can hold for a client not reading.
 */
const FILLS = 400
const TOTAL = FILLS * 4096
function flood (admin: TestClient): void {
  for (let i = 0; i < FILLS; i++) admin.send(rect((i % 16) * 64, Math.floor(i / 16) * 32, 64, 64, i % 256, 7, 7))
}

t.test('a client over its send buffer skips frames and is caught up from the log once it drains', async (t) => {
  // The deadline is far away: this is about catching up, not closing. So is
  // the heartbeat's: a paused socket reads no ping, and once resumed it reads
  // one only behind the megabytes queued before it; two unanswered pings end
  // the connection (4012), 2-3 minutes in with the tests' 60 s heartbeat,
  // which a loaded machine can reach now that the collects below wait as
  // long as frames keep coming.
  // MAX_REPLAY above TOTAL: caught up from the log, not with a snapshot.
  const srv = await listen(t, { TICK_MS: '20', SEND_BUFFER_BYTES: '262144', SLOW_CLIENT_TIMEOUT_MS: '600000', HEARTBEAT_MS: '600000', MAX_PENDING_PIXELS: '2000000', MAX_REPLAY: '2000000' })
  const admin = new TestClient(srv.wsUrl, { token: token({ sub: 'root', role: 'admin' }) })
  const fast = new TestClient(srv.wsUrl, { token: token({ sub: 'fast', role: 'viewer' }) })
  const hiccup = new TestClient(srv.wsUrl, { token: token({ sub: 'hiccup', role: 'viewer' }) })
  await Promise.all([ready(admin), ready(fast), ready(hiccup)])
  t.teardown(() => { admin.close(); fast.close(); hiccup.close() })
  sock(hiccup).pause()
  const before = { ...srv.app.canvases.stats }
  flood(admin)
  // 11 MB to each client: how long that takes is the machine's; what must not
  // happen is a stream that stops (30 s without a frame) or a close.
  const got = await collect(fast, TOTAL, 30000, { stall: true })
  t.equal(got.px.length, TOTAL, 'the fast client got every pixel')
  t.equal(got.seq, TOTAL)
  t.ok(srv.app.canvases.stats.lagged > before.lagged, 'the paused client fell behind')

  sock(hiccup).resume()
  const late = await collect(hiccup, TOTAL, 30000, { stall: true })
  let seq = 0
  let ordered = true
  for (const f of late.frames) {
    const u = parseUpdates(f)
    seq += u.px.length
    if (u.seq !== seq) ordered = false
  }
  t.ok(ordered, 'the caught-up client saw no gap and no duplicate')
  t.ok(srv.app.canvases.stats.catchUpFrames > before.catchUpFrames, 'it was caught up from the log')
  t.equal(late.seq, TOTAL)
  t.same(late.px.slice(-3) as Px[], got.px.slice(-3), 'and ends where everyone else does')
  await stillDraws(t, srv)
})

t.test('a client that stays over its send buffer is closed with 4008', async (t) => {
  // The fast client reads in this same process: on a loaded machine it too
  // falls behind for a while as the server writes, and is caught up from the
  // log; MAX_REPLAY above the whole flood keeps that catch-up in UPDATES
  // (past MAX_REPLAY it would get a snapshot, which collect() does not count:
  // CI failed so). It may also sit over its buffer for a few hundred ms: the
  // deadline is seconds. The stuck one stays over for good and is dropped.
  const srv = await listen(t, { TICK_MS: '20', SEND_BUFFER_BYTES: '262144', SLOW_CLIENT_TIMEOUT_MS: '2000', MAX_PENDING_PIXELS: '2000000', MAX_REPLAY: '2000000' })
  const admin = new TestClient(srv.wsUrl, { token: token({ sub: 'root', role: 'admin' }) })
  const fast = new TestClient(srv.wsUrl, { token: token({ sub: 'fast', role: 'viewer' }) })
  const stuck = new TestClient(srv.wsUrl, { token: token({ sub: 'stuck', role: 'viewer' }) })
  await Promise.all([ready(admin), ready(fast), ready(stuck)])
  t.teardown(() => { admin.close(); fast.close(); stuck.ws.terminate() })
  sock(stuck).pause()
  const stuckConn = [...srv.app.connections.registry.all()].find((c) => c.user.id === 'stuck')
  flood(admin)
  let fastClosed: number | null = null
  fast.ws.on('close', (code) => { fastClosed = code })
  // 11 MB to each client: how long that takes is the machine's; what must not
  // happen is a stream that stops (30 s without a frame) or a close.
  const got = await collect(fast, TOTAL, 30000, { stall: true })
  t.equal(got.px.length, TOTAL, 'the fast client got every pixel meanwhile')
  t.equal(fastClosed, null, 'and was not dropped')
  const gone = await new Promise<boolean>((resolve) => {
    const deadline = Date.now() + 10000
    const timer = setInterval(() => {
      const done = stuckConn?.closed === true
      if (done || Date.now() > deadline) { clearInterval(timer); resolve(done) }
    }, 50)
  })
  t.ok(gone, 'the stuck client was dropped')
  t.equal(stuckConn?.closeCode, 4008, 'with 4008')
  t.ok((stuckConn?.bytesOut ?? Infinity) < TOTAL * 7, 'it was never sent the whole stream')
  t.equal(srv.app.connections.registry.size, 2)
  t.equal(srv.app.hub.count('canvas:main'), 2)
  await stillDraws(t, srv)
})

t.test('storage faults: busy and full are refused, never shown, reported, and recovered', async (t) => {
  const srv = await listen(t, { TICK_MS: '20', DB_BUSY_TIMEOUT_MS: '50' })
  const painter = new TestClient(srv.wsUrl, { token: token({ sub: 'p' }) })
  const watcher = new TestClient(srv.wsUrl, { token: token({ sub: 'w', role: 'viewer' }) })
  await Promise.all([ready(painter), ready(watcher)])
  t.teardown(() => { painter.close(); watcher.close() })

  // Busy: another connection holds the write lock past the busy timeout.
  const other = new Database(join(srv.dataDir, 'pixelwire.db'))
  t.teardown(() => { if (other.open) other.close() })
  other.exec('BEGIN IMMEDIATE')
  painter.send(pixel(7, 7, 7, 7, 7))
  const busy = (await painter.next(isError('UNAVAILABLE'))).json
  t.match(busy.message, /not applied/)
  t.ok(await watcher.nothing(isUpdates, 150), 'nothing shown')
  const notReady = await srv.app.inject('/health/ready')
  t.equal(notReady.statusCode, 503)
  t.match(notReady.json(), { error: 'NOT_READY', checks: { storage: /locked|busy/, database: 'ok' } })
  other.exec('ROLLBACK')
  other.close()
  await untilReady(t, srv)
  painter.send(pixel(8, 8, 8, 8, 8))
  t.same((await collect(watcher, 1)).px, [[8, 8, 8, 8, 8]], 'recovers when the lock is gone')

  // Full: the database may not grow by one more page.
  const pages = srv.app.db.pragma('page_count', { simple: true }) as number
  srv.app.db.pragma(`max_page_count = ${pages}`)
  painter.send(rect(0, 100, 32, 32, 9, 9, 9))
  t.match((await painter.next(isError('UNAVAILABLE'))).json, { code: 'UNAVAILABLE', retryAfterMs: 1000 })
  t.ok(await watcher.nothing(isUpdates, 150), 'nothing shown')
  t.match((await srv.app.inject('/health/ready')).json(), { checks: { storage: /full/ } })
  srv.app.db.pragma('max_page_count = 1073741823')
  await untilReady(t, srv)
  painter.send(pixel(9, 9, 9, 9, 9))
  const after = await collect(watcher, 1)
  t.same(after.px, [[9, 9, 9, 9, 9]])
  t.equal(after.seq, 2, 'seq has no hole where the refused changes were')
})

t.test('storage failing for UNAVAILABLE_CLOSE_MS: a painter whose draws keep failing is closed with 1013', async (t) => {
  const srv = await listen(t, { TICK_MS: '20', UNAVAILABLE_CLOSE_MS: '300' })
  t.equal(srv.config.UNAVAILABLE_CLOSE_MS, 300)
  const painter = new TestClient(srv.wsUrl, { token: token({ sub: 'p' }) })
  const watcher = new TestClient(srv.wsUrl, { token: token({ sub: 'w', role: 'viewer' }) })
  await Promise.all([ready(painter), ready(watcher)])
  t.teardown(() => { painter.ws.terminate(); watcher.close() })

  // Every commit fails, as on a full disk, for as long as the trigger exists.
  srv.app.db.exec('CREATE TRIGGER fail BEFORE INSERT ON change_log BEGIN SELECT RAISE(ABORT, \'disk full\'); END')
  let i = 0
  const paint = setInterval(() => { if (painter.ws.readyState === painter.ws.OPEN) painter.send(pixel(i++ % 64, 3, 1, 2, 3)) }, 30)
  t.teardown(() => clearInterval(paint))
  const closed = await painter.closed
  clearInterval(paint)
  t.same(closed, { code: 1013, reason: 'try again later' }, 'closed with 1013')
  const refused = painter.msgs.filter(isError('UNAVAILABLE')).length
  t.ok(refused >= 2, `after its draws kept failing (${refused} UNAVAILABLE answers)`)
  await until(() => srv.app.connections.registry.size <= 1, 20000, 'the server let it go')
  t.equal(srv.app.connections.registry.size, 1, 'the server let it go')
  t.equal(srv.app.meter.counts.closes.get('1013'), 1, 'counted under 1013')
  t.equal(watcher.ws.readyState, watcher.ws.OPEN, 'a client that does not draw is left alone')
  t.ok(await watcher.nothing(isUpdates, 100), 'and was shown nothing')

  srv.app.db.exec('DROP TRIGGER fail')
  await stillDraws(t, srv)
})
