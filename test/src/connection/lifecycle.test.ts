// Cleanup runs once however a connection ends; heartbeats end dead peers.
import { join } from 'node:path'
import t from 'tap'
import { createLifecycle, type LifecycleOptions } from '../../../src/connection/lifecycle.js'
import type { Transport } from '../../../src/connection/connection.js'
import { Disconnect } from '../../../src/connection/disconnect.js'
import { createCanvasService } from '../../../src/canvas/canvas-service.js'
import { createMemoryBroker } from '../../../src/broker/memory.js'
import { createPipeline } from '../../../src/hub/fanout.js'
import type { Connection } from '../../../src/connection/connection.js'
import { openDatabase } from '../../../src/persistence/db.js'
import { createCanvasStore } from '../../../src/persistence/canvas-store.js'
import { createCanvasLog } from '../../../src/persistence/canvas-log.js'
import { MIGRATIONS_DIR } from '../../../src/paths.js'
import { createMeter } from '../../../src/metrics.js'
import { tempDir } from '../../helper.js'

class FakeTransport implements Transport {
  bufferedAmount = 0
  sent: Array<Buffer | string> = []
  closes: Array<[number, string]> = []
  pings = 0
  terminated = 0
  send (d: Buffer | string) { this.sent.push(d) }
  close (code: number, reason: string) { this.closes.push([code, reason]) }
  ping () { this.pings++ }
  terminate () { this.terminated++ }
}

const silent = { info () {}, warn () {}, error () {} }

function setup (t: { teardown (fn: () => unknown): void }, limits = { maxConnections: 10, maxPerIp: 10, maxPerUser: 10 }, timing: Partial<LifecycleOptions> = {}) {
  const db = openDatabase({ file: join(tempDir(t), 'l.db'), migrationsDir: MIGRATIONS_DIR })
  t.teardown(() => db.close())
  const { hub, broker, fanout } = createPipeline<Connection>(createMemoryBroker())
  const store = createCanvasStore(db)
  const canvases = createCanvasService<Connection>({
    store, canvasLog: createCanvasLog(store), hub, broker, fanout, log: silent, tickMs: 50, maxPendingPixels: 100, maxReplay: 100, sendBufferBytes: 100, snapshotEvery: 100, defaultCanvas: { id: 'main', width: 4, height: 4 }
  })
  canvases.load()
  const lc = createLifecycle({
    hub, log: silent, heartbeatMs: 60000, sendBufferBytes: 1000, slowClientTimeoutMs: 500, tokenGraceMs: 2000, badMessageWindowMs: 1000, rateAbuseWindowMs: 1000, ...limits, ...timing
  })
  lc.onCleanup((conn) => canvases.detach(conn))
  return { hub, canvases, lc }
}

const user = (id: string) => ({ id, name: id, role: 'painter' as const, exp: 0 })

/** Reserve a slot as the handshake does, then open in it. */
function open (lc: ReturnType<typeof setup>['lc'], tr: Transport, u: ReturnType<typeof user>, ip: string) {
  const slot = lc.registry.reserve(ip, u.id)
  if ('status' in slot) throw new Error(slot.message)
  return lc.open(tr, u, 'main', slot)
}

t.test('cleanup runs exactly once, whichever end comes first', async (t) => {
  const { hub, canvases, lc } = setup(t)
  const tr = new FakeTransport()
  const conn = open(lc, tr, user('a'), '1.2.3.4')
  canvases.attach(conn, canvases.get('main')!, 0)
  hub.subscribe(conn, 'chat:x')
  t.equal(lc.registry.size, 1)
  t.equal(hub.topicsOf(conn.id).size, 2)
  t.equal(conn.state, 'open')
  t.equal(conn.close(Disconnect.KICKED), true)
  t.same(tr.closes, [[4403, 'kicked']])
  t.equal(conn.state, 'closing')
  t.equal(conn.closed, false, 'closing is not closed: the close event finishes it')
  t.equal(conn.close(Disconnect.HEARTBEAT_TIMEOUT), false, 'a second close is a no-op')
  t.same(tr.closes, [[4403, 'kicked']], 'nothing more sent')
  t.equal(conn.closeCode, 4403, 'the first reason stays')
  lc.cleanup(conn, 1006) // e.g. error first
  lc.cleanup(conn, 1000) // then the close event
  lc.cleanup(conn, 1000)
  t.equal(conn.closed, true)
  t.equal(conn.state, 'closed')
  t.equal(conn.closeCode, 4403, 'the code we closed with is kept')
  t.equal(lc.registry.size, 0)
  t.same(hub.size(), { topics: 0, connections: 0 })
  t.equal(conn.send('late'), false, 'nothing is sent after close')
  t.equal(hub.subscribe(conn, 'chat:y'), false, 'a closed connection cannot subscribe')
  t.equal(conn.close(Disconnect.NORMAL), false)
  t.equal(tr.closes.length, 1, 'close after closed is a no-op')
})

t.test('cleanup hooks run once, and a failing hook does not stop the others', async (t) => {
  const { lc } = setup(t)
  const seen: string[] = []
  lc.onCleanup(() => { throw new Error('broken hook') })
  lc.onCleanup((conn) => seen.push(conn.user.id))
  const conn = open(lc, new FakeTransport(), user('h'), 'ip')
  lc.cleanup(conn, 1000)
  lc.cleanup(conn, 1000)
  t.same(seen, ['h'])
  t.equal(lc.registry.size, 0)
})

t.test('the peer\'s close code is kept when it closed first', async (t) => {
  const { lc } = setup(t)
  const conn = open(lc, new FakeTransport(), user('a'), 'ip')
  lc.cleanup(conn, 4001)
  t.equal(conn.closeCode, 4001)
})

t.test('admission caps count reservations, so a burst cannot overshoot', async (t) => {
  const { lc } = setup(t, { maxConnections: 3, maxPerIp: 2, maxPerUser: 1 })
  const r1 = lc.registry.reserve('ip1', 'u1')
  t.notOk('status' in r1)
  t.match(lc.registry.reserve('ip2', 'u1'), { status: 429, message: /user/ }, 'a reservation counts for its user')
  const r2 = lc.registry.reserve('ip1', 'u2')
  t.match(lc.registry.reserve('ip1', 'u3'), { status: 429, message: /address/ }, 'and for its address')
  t.notOk('status' in lc.registry.reserve('ip2', 'u3'))
  t.match(lc.registry.reserve('ip3', 'u4'), { status: 503 }, 'and globally')
  t.equal(lc.registry.reserved, 3)
  if ('status' in r1 || 'status' in r2) throw new Error('unreachable')
  const c1 = lc.open(new FakeTransport(), user('u1'), 'main', r1)
  r1.release()
  t.equal(lc.registry.size, 1, 'release after use is a no-op')
  t.throws(() => lc.open(new FakeTransport(), user('u1'), 'main', r1), /already used/)
  r2.release()
  r2.release()
  t.equal(lc.registry.reserved, 1, 'released once')
  t.notOk('status' in lc.registry.reserve('ip1', 'u5'), 'a released slot is free again')
  lc.cleanup(c1, 1000)
  t.notOk('status' in lc.registry.reserve('ip3', 'u1'), 'a slot frees on cleanup')
})

t.test('closeAll closes with the code, then terminates stragglers at the deadline', async (t) => {
  const { lc } = setup(t)
  const polite = new FakeTransport()
  const deaf = new FakeTransport()
  const a = open(lc, polite, user('a'), 'ip')
  open(lc, deaf, user('b'), 'ip')
  polite.close = (code, reason) => { polite.closes.push([code, reason]); setImmediate(() => lc.cleanup(a, code)) }
  const started = Date.now()
  await lc.closeAll(Disconnect.GOING_AWAY, 100)
  t.ok(Date.now() - started >= 90, 'waited for the deaf one')
  t.same(polite.closes, [[1001, 'going away']])
  t.same(deaf.closes, [[1001, 'going away']])
  t.equal(deaf.terminated, 1)
  t.equal(lc.registry.size, 0)
})

t.test('closeAll with everyone polite resolves as soon as the last one is gone', async (t) => {
  const { lc } = setup(t)
  const tr = new FakeTransport()
  const a = open(lc, tr, user('a'), 'ip')
  tr.close = (code) => { setImmediate(() => lc.cleanup(a, code)) }
  const started = Date.now()
  await lc.closeAll(Disconnect.GOING_AWAY, 5000)
  t.ok(Date.now() - started < 1000)
  t.equal(tr.terminated, 0)
})

t.test('connection ids are u32 and skip live ones', async (t) => {
  const { lc } = setup(t)
  const ids = new Set<number>()
  for (let i = 0; i < 5; i++) ids.add(open(lc, new FakeTransport(), user(`u${i}`), `ip${i}`).id)
  t.equal(ids.size, 5)
  for (const id of ids) t.ok(id >= 1 && id <= 0xffffffff)
})

t.test('sweep: a token past exp plus grace is closed with 4401', async (t) => {
  const { lc } = setup(t)
  const now = 1_000_000_000_000
  const tr = new FakeTransport()
  const conn = open(lc, tr, { ...user('a'), exp: now / 1000 }, 'ip')
  const anon = new FakeTransport()
  open(lc, anon, { ...user('anon'), exp: 0 }, 'ip')
  lc.sweep(now + 2000)
  t.same(tr.closes, [], 'within the grace')
  lc.sweep(now + 2001)
  t.same(tr.closes, [[4401, 'token expired']])
  t.same(anon.closes, [], 'exp 0 (anonymous) never expires')
  conn.user = { ...conn.user, exp: now / 1000 + 3600 }
})

t.test('sweep: over the send buffer past the deadline is 4008 and terminated', async (t) => {
  const { lc } = setup(t)
  const slow = new FakeTransport()
  const conn = open(lc, slow, user('s'), 'ip')
  slow.bufferedAmount = 1001
  lc.sweep(10_000)
  t.same(lc.watched(), { pings: 0, over: 1, unavailable: 0 }, 'over the cap: watched')
  lc.sweep(10_499)
  t.same(slow.closes, [], 'not yet')
  slow.bufferedAmount = 10
  lc.sweep(10_600)
  t.same(lc.watched(), { pings: 0, over: 0, unavailable: 0 }, 'drained: the clock restarts')
  slow.bufferedAmount = 5000
  lc.sweep(11_000)
  lc.sweep(11_499)
  t.same(slow.closes, [])
  lc.sweep(11_500)
  t.same(slow.closes, [[4008, 'slow consumer']])
  t.equal(slow.terminated, 1)
  t.equal(conn.send('x'), false, 'nothing is queued over the cap')
  t.equal(conn.dropped, 1)
})

t.test('heartbeats are spread: one slice of connections per beat, each pinged once a period, dead ones ended', async (t) => {
  const { lc } = setup(t, undefined, { heartbeatMs: 600, heartbeatSliceMs: 200 }) // 3 slices, a beat every 200 ms
  const trs = Array.from({ length: 6 }, () => new FakeTransport())
  const conns = trs.map((tr, i) => open(lc, tr, user(`u${i}`), '1.2.3.4'))
  const slotOf = (i: number) => conns[i].id % 3
  lc.start()
  t.teardown(() => lc.stopTimers())
  const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))
  // Whenever we look, pings went out slot by slot: a slot's connections alike, earlier slots never behind later ones.
  const states = new Set<string>()
  let inOrder = true
  while (trs.some((tr) => tr.pings === 0)) {
    await sleep(10)
    const bySlot = [0, 1, 2].map((s) => [...new Set(trs.filter((_tr, i) => slotOf(i) === s).map((tr) => tr.pings))])
    if (bySlot.some((counts) => counts.length !== 1) || bySlot[0][0] < bySlot[1][0] || bySlot[1][0] < bySlot[2][0]) inOrder = false
    states.add(bySlot.map((c) => c.join('|')).join(','))
  }
  t.ok(inOrder, 'one slot at a time, in order')
  t.ok(states.has('1,0,0') || states.has('1,1,0'), `seen part way: ${[...states].join(' ')}`)
  t.same(trs.map((tr) => tr.pings), [1, 1, 1, 1, 1, 1], 'within one period, everyone once')
  // nobody answers: after two unanswered pings, a slot's third beat ends it
  const deadline = performance.now() + 5000
  while (trs.some((tr) => tr.closes.length === 0) && performance.now() < deadline) await sleep(20)
  t.same(trs.map((tr) => tr.closes[0]?.[0]), [4012, 4012, 4012, 4012, 4012, 4012], 'dead peers ended (4012) after two missed pongs')
  t.same(trs.map((tr) => tr.pings), [2, 2, 2, 2, 2, 2], 'two pings each before that')
  t.ok(trs.every((tr) => tr.terminated > 0))
})

/** A logger that keeps what it was given. */
function recorder () {
  const lines: Array<{ level: string, obj: Record<string, unknown>, msg?: string }> = []
  const at = (level: string) => (obj: object, msg?: string) => { lines.push({ level, obj: obj as Record<string, unknown>, msg }) }
  return { lines, log: { info: at('info'), warn: at('warn'), error: at('error') } }
}

t.test('a kick then a heartbeat timeout is recorded as the kick: 4403 in the log line and the metric', async (t) => {
  const meter = createMeter()
  const { lines, log } = recorder()
  const { lc } = setup(t, undefined, { heartbeatMs: 30, heartbeatSliceMs: 30, meter, log }) // one slice, a beat every 30 ms
  const tr = new FakeTransport()
  const conn = open(lc, tr, user('k'), 'ip')
  // The peer neither answers pongs nor the close frame (a dead peer that was kicked).
  tr.terminate = () => { tr.terminated++; setImmediate(() => lc.cleanup(conn, 1006)) }
  t.equal(conn.close(Disconnect.KICKED), true, 'kicked')
  lc.start()
  t.teardown(() => lc.stopTimers())
  const deadline = performance.now() + 5000
  while (!conn.closed && performance.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10))
  t.equal(conn.closed, true, 'ended by the heartbeat (terminated after two missed pongs)')
  t.ok(tr.terminated >= 1, 'terminated')
  t.same(tr.closes, [[4403, 'kicked']], 'one close frame: the kick; the heartbeat sent none')
  t.equal(conn.closeCode, 4403, 'the first reason wins')
  t.same([...meter.counts.closes], [['4403', 1]], 'counted under 4403, not 4012 or 1006')
  t.match(lines.find((l) => l.msg === 'connection closed')?.obj, { conn: conn.id, code: 4403 }, 'logged with 4403')
  t.same(lc.watched(), { pings: 0, over: 0, unavailable: 0 }, 'its heartbeat state went with it')
})

t.test('a close the transport started itself (a protocol error) is recorded with its code', async (t) => {
  const meter = createMeter()
  const { lines, log } = recorder()
  const { lc } = setup(t, undefined, { meter, log })
  const tr = new FakeTransport()
  const conn = open(lc, tr, user('p'), 'ip')
  t.equal(conn.closing(1009), true)
  t.equal(conn.state, 'closing')
  t.same(tr.closes, [], 'the transport already sent its close frame: we send none')
  t.equal(conn.close(Disconnect.KICKED), false, 'a later close is a no-op')
  t.equal(conn.closing(1002), false, 'so is a second closing()')
  lc.cleanup(conn, 1006) // the peer never answered: ws reports 1006
  t.equal(conn.closeCode, 1009)
  t.same([...meter.counts.closes], [['1009', 1]])
  t.match(lines.find((l) => l.msg === 'connection closed')?.obj, { code: 1009 })
})

t.test('a client\'s own close code is kept by value, up to closeCodeLabels distinct ones, then other', async (t) => {
  const meter = createMeter()
  const { lines, log } = recorder()
  const { lc } = setup(t, { maxConnections: 100, maxPerIp: 100, maxPerUser: 100 }, { meter, log, closeCodeLabels: 2 })
  const codes = [4000, 3001, 4000, 4999, 1000, 4001, 3001, 1001]
  codes.forEach((code, i) => lc.cleanup(open(lc, new FakeTransport(), user(`u${i}`), 'ip'), code))
  t.same(Object.fromEntries(meter.counts.closes), { 4000: 2, 3001: 2, other: 2, 1000: 1, 1001: 1 },
    'documented codes by value; the first two others by value; later new ones as other')
  t.same(lines.filter((l) => l.msg === 'connection closed').map((l) => l.obj.code), codes, 'the log line keeps every code as sent')
})

t.test('draws answered UNAVAILABLE for unavailableCloseMs end with 1013; a commit or a pause starts over', async (t) => {
  const { lc } = setup(t, undefined, { unavailableCloseMs: 1000 })
  const tr = new FakeTransport()
  const conn = open(lc, tr, user('u'), 'ip')
  lc.drawUnavailable(conn, 10_000)
  lc.drawUnavailable(conn, 10_600)
  lc.drawsCommitted([{ connId: conn.id }], true, 10_700) // a draw of it got through: the run is over
  lc.drawUnavailable(conn, 10_800)
  lc.drawsCommitted([{ connId: conn.id }], false, 11_500) // a failed commit counts like any UNAVAILABLE
  t.same(tr.closes, [], 'failing for 700 ms since the last commit: still open')
  lc.drawUnavailable(conn, 13_000) // 1.5 s after the last one: a new run
  lc.drawUnavailable(conn, 13_900)
  t.same(tr.closes, [], 'a pause longer than the limit started a new run')
  lc.drawUnavailable(conn, 14_000)
  t.same(tr.closes, [[1013, 'try again later']], '1 s of UNAVAILABLE without a commit: 1013')
  lc.drawUnavailable(conn, 14_100)
  t.equal(tr.closes.length, 1, 'closed once')
  lc.drawsCommitted([{ connId: 12345 }], false, 14_200) // a connection that is gone: ignored
  lc.cleanup(conn, 1013)
  t.same(lc.watched(), { pings: 0, over: 0, unavailable: 0 }, 'forgotten on cleanup')

  const { lc: never } = setup(t, undefined, { unavailableCloseMs: 0 })
  const tr2 = new FakeTransport()
  const c2 = open(never, tr2, user('n'), 'ip')
  for (let at = 0; at <= 100_000; at += 500) never.drawUnavailable(c2, at)
  t.same(tr2.closes, [], 'unavailableCloseMs 0: never closed')
  t.same(never.watched(), { pings: 0, over: 0, unavailable: 0 }, 'and nothing tracked')
})
