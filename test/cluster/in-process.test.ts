// The cluster order with the nodes in this process (two or three apps on
// real sockets, a real redis-server of the test's own): the paths the
// process tests drive from outside, here where they can be looked at
// directly: a draw on one node shown on the other, both logs the same; a
// canvas created on a node joins the order; a node that joins after the
// stream was trimmed installs the cluster snapshot; a Redis that comes back
// empty fences every node (draws refused, readiness, metric).
import t from 'tap'
import { Redis } from 'ioredis'
import { isError, listen, pixel, token, type Listening } from '../helper.js'
import { samples } from '../promtool.js'
import { startRedis, until } from './redis.js'
import { watch } from './watch.js'

// Real processes (and, for the first cluster test file, compiling the
// server) on a loaded machine: more than the 120 s per file of package.json.
t.setTimeout(360000)

const env = (redisUrl: string, node: string, extra: Record<string, string> = {}) => ({
  REDIS_URL: redisUrl, NODE_ID: node, TICK_MS: '5', PIXEL_RATE: '100000', PIXEL_BURST: '100000', REDIS_HEALTH_MS: '100', REDIS_RETRY_MAX_MS: '200', REDIS_COMMAND_TIMEOUT_MS: '1000', ...extra
})
const ready = async (n: Listening) => (await n.app.inject('/health/ready')).json()

t.test('two nodes in one process: one order, new canvases, a late joiner, an emptied Redis', async (t) => {
  const redis = await startRedis(t)
  const extra = { REDIS_STREAM_MAXLEN: '100', SNAPSHOT_EVERY: '50' }
  const a = await listen(t, env(redis.url, 'a', extra))
  const b = await listen(t, env(redis.url, 'b', extra))
  const wa = await watch(a.wsUrl, 'wa')
  const wb = await watch(b.wsUrl, 'wb', { role: 'viewer' })
  t.equal(wa.hello.canvas.epoch, wb.hello.canvas.epoch, 'one epoch')

  // 150 batches, one at a time: more entries than the stream keeps.
  for (let i = 0; i < 150; i++) {
    wa.client.send(pixel(i, 1, 1, 2, 3))
    await until(() => wb.seq === i + 1, 20000, `batch ${i + 1} on b`)
  }
  t.same(wb.changes, wa.changes, 'b showed what a showed')
  t.same(wb.faults, [])
  t.same(b.app.canvasStore.changesAfter('main', 0, 1000), a.app.canvasStore.changesAfter('main', 0, 1000), 'both logs hold the same changes')

  const r = new Redis(redis.url)
  r.on('error', () => {}) // it loses Redis below, on purpose
  t.teardown(() => r.disconnect())
  const first = await r.xrange('pixelwire:canvas:{main}:log', '-', '+', 'COUNT', 1)
  t.ok(Number(first[0][0].split('-')[0]) > 1, 'the stream was trimmed (down to the newest snapshot)')
  t.ok(Number(await r.hget('pixelwire:canvas:{main}:meta', 'snapseq')) >= 100, 'a snapshot offered to Redis')

  // A late joiner with an empty DATA_DIR: the stream no longer starts at 0, so the snapshot.
  const c = await listen(t, env(redis.url, 'c', extra))
  const stats = c.app.clusterBroker!.sequencer.stats
  t.equal(stats.gapsDetected, 1)
  t.equal(stats.gapsFilled, 1, 'installed the cluster snapshot')
  await until(() => c.app.canvases.get('main')!.seq === 150, 20000, 'c at the cluster seq')
  const wc = await watch(c.wsUrl, 'wc', { role: 'viewer' })
  const wb2 = await watch(b.wsUrl, 'wb2', { role: 'viewer' })
  t.ok(wc.snapshot!.equals(wb2.snapshot!), 'the same canvas bytes as b')
  const floor = c.app.canvases.get('main')!.logFloor
  t.ok(floor > 0, 'c has no log before its snapshot')
  const old = await watch(c.wsUrl, 'old', { role: 'viewer', since: 1, epoch: wa.hello.canvas.epoch })
  t.equal(old.hello.resume, 'snapshot', 'a since before it is answered with a snapshot')

  // A canvas created on a: joins the order; b learns it at its next boot.
  const admin = { authorization: `Bearer ${token({ sub: 'ops', role: 'admin' })}` }
  const created = await a.app.inject({ method: 'POST', url: '/api/admin/canvases', headers: admin, payload: { id: 'side', width: 8, height: 8 } })
  t.equal(created.statusCode, 201)
  const side = await watch(`${a.wsUrl}?canvas=side`, 'ws')
  side.client.send(pixel(1, 1, 9, 9, 9))
  await until(() => side.seq === 1, 20000, 'a draw on the new canvas goes through the order')
  t.equal(await r.sismember('pixelwire:canvases', 'side'), 1, 'registered in Redis')

  // Redis back empty: every node fences itself.
  await redis.kill9()
  await redis.restart({ fresh: true })
  for (const n of [a, b, c]) {
    await until(async () => /lost its data/.test((await ready(n)).checks.redis), 30000, `${n.config.NODE_ID} reports the loss`)
    t.equal(samples((await n.app.inject('/metrics')).body).get('pixelwire_redis_data_lost'), 1)
  }
  wa.client.send(pixel(5, 5, 1, 1, 1))
  await wa.client.next(isError('UNAVAILABLE'), 10000)
  t.pass('a draw is refused')
  t.equal(await r.get('pixelwire:cluster'), null, 'and no node founded a new order')
  for (const w of [wa, wb, wc, wb2, old, side]) w.client.close()
})

t.test('a batch is shown when the order hands it back, not at the next beat', async (t) => {
  const redis = await startRedis(t)
  const a = await listen(t, env(redis.url, 'a'))
  // b beats every 10 s: what it shows before then came through showSoon
  const b = await listen(t, env(redis.url, 'b', { TICK_MS: '10000' }))
  const wa = await watch(a.wsUrl, 'wa')
  const wb = await watch(b.wsUrl, 'wb', { role: 'viewer' })
  const beatsBefore = b.app.canvases.beats
  const batches = 10
  for (let i = 0; i < batches; i++) {
    wa.client.send(pixel(i, 3, 4, 5, 6))
    await until(() => wb.seq === wb.start + i + 1, 30000, `batch ${i + 1} on b`)
  }
  const beats = b.app.canvases.beats - beatsBefore
  // at the next beat, each batch would have waited for one of b's beats
  t.ok(beats < batches / 2, `${batches} batches shown on b over ${beats} of its beats`)
  t.same(wb.faults, [])
  t.same(wb.changes, wa.changes.slice(wa.changes.length - batches), 'the same changes as a')
  for (const w of [wa, wb]) w.client.close()
})

t.test('a node whose DATA_DIR belongs to another cluster is fenced at boot', async (t) => {
  const redis = await startRedis(t)
  const a = await listen(t, env(redis.url, 'a'))
  await a.app.close()
  // Same DATA_DIR, a Redis that never saw it: it lost its data, as far as this node can tell.
  await redis.kill9()
  await redis.restart({ fresh: true })
  const again = await listen(t, { ...env(redis.url, 'a'), DATA_DIR: a.dataDir })
  t.match((await ready(again)).checks.redis, /Redis has no cluster id, but this node was in cluster/)
  t.equal((await again.app.inject('/health/ready')).statusCode, 503)
})

// Canvas state changes and admin commits travel through the order (entries
// of the canvas's stream, or an APPEND): taken on a, applied on b at the
// same point. A ban is the one disconnect event, relayed.
t.test('cluster mode: freeze, palette, reset, delete and revert reach the other node; a ban closes the user on another node', async (t) => {
  const redis = await startRedis(t)
  const a = await listen(t, env(redis.url, 'a'))
  const b = await listen(t, env(redis.url, 'b'))
  const headers = { authorization: `Bearer ${token({ sub: 'ops', role: 'admin' })}` }
  const call = async (method: 'POST' | 'PATCH' | 'DELETE', url: string, payload?: object) =>
    await a.app.inject({ method, url, headers, ...(payload === undefined ? {} : { payload }) })
  t.equal((await call('POST', '/api/admin/canvases', { id: 'side', width: 8, height: 8 })).statusCode, 201)
  await until(() => b.app.canvases.get('side') !== undefined, 20000, 'b serves the canvas created on a')

  const vandal = await watch(a.wsUrl, 'vandal')
  const seen = await watch(b.wsUrl, 'seen', { role: 'viewer' })
  vandal.client.send(pixel(1, 1, 9, 9, 9))
  await until(() => seen.seq === 1, 20000, 'the draw went through the order')
  const epoch = a.app.canvases.get('main')!.epoch

  t.equal((await call('PATCH', '/api/admin/canvases/main', { frozen: true })).statusCode, 200)
  await until(() => b.app.canvases.get('main')!.frozen, 20000, 'b frozen')
  t.equal((await call('PATCH', '/api/admin/canvases/main', { frozen: false, palette: ['#000000', '#ffffff'] })).statusCode, 200)
  await until(() => !b.app.canvases.get('main')!.frozen && b.app.canvases.get('main')!.palette?.size === 2, 20000, 'b unfrozen, with the palette')
  t.equal(b.app.canvasStore.get('main')!.frozen, false, 'stored in b\'s SQLite too')
  const rev = await call('POST', '/api/admin/canvases/main/revert', { user: 'vandal' })
  t.same([rev.statusCode, rev.json().seq], [200, 2], 'the revert is seq 2 of the one order')
  await until(() => seen.seq === 2, 20000, 'b shows the revert')
  const reset = await call('POST', '/api/admin/canvases/main/reset')
  t.equal(reset.statusCode, 200)
  t.not(reset.json().epoch, epoch)
  await until(() => b.app.canvases.get('main')!.epoch === reset.json().epoch, 20000, 'b in the new epoch')
  t.equal(b.app.canvases.get('main')!.seq, 2, 'at the same seq')
  t.equal((await call('DELETE', '/api/admin/canvases/side')).statusCode, 204)
  await until(() => b.app.canvases.get('side') === undefined, 20000, 'b dropped the deleted canvas')

  // A ban taken on a: its disconnect event reaches the user's connection on b.
  const mallory = await watch(b.wsUrl, 'mallory')
  t.equal((await call('POST', '/api/admin/bans', { user: 'mallory', seconds: 600 })).statusCode, 201)
  t.same(await mallory.client.closed, { code: 4403, reason: 'banned' }, 'closed on the other node')
  for (const w of [vandal, seen]) w.client.close()
})

// A revert is planned against this node's seq and appended only while Redis
// is still there (MOVED otherwise, planned again): with another node drawing
// without a pause it still goes through, and both nodes end the same.
t.test('cluster mode: a revert while another node draws without a pause', async (t) => {
  const redis = await startRedis(t)
  const a = await listen(t, env(redis.url, 'a'))
  const b = await listen(t, env(redis.url, 'b'))
  const headers = { authorization: `Bearer ${token({ sub: 'ops', role: 'admin' })}` }
  const vandal = await watch(a.wsUrl, 'vandal')
  for (let x = 0; x < 20; x++) vandal.client.send(pixel(x, 3, 1, 2, 3))
  await until(() => b.app.canvases.get('main')!.seq === 20, 20000, 'b has the vandal\'s pixels')
  const painter = await watch(b.wsUrl, 'painter')
  let i = 0
  const timer = setInterval(() => { painter.client.send(pixel(i++ % 64, 10, 9, 9, 9)) }, 2)
  t.teardown(() => clearInterval(timer))
  await until(() => a.app.canvases.get('main')!.seq > 40, 20000, 'b\'s painter is drawing')
  const rev = await a.app.inject({ method: 'POST', url: '/api/admin/canvases/main/revert', headers, payload: { user: 'vandal' } })
  t.same([rev.statusCode, rev.json().reverted], [200, 20], 'the revert went through while the canvas kept moving')
  clearInterval(timer)
  const seq = () => [a, b].map((n) => n.app.canvases.get('main')!.seq)
  await until(async () => {
    const before = seq()
    await new Promise((resolve) => setTimeout(resolve, 200))
    const after = seq()
    return before[0] === after[0] && after[0] === after[1]
  }, 20000, 'both nodes at one seq, the painter done')
  const [pa, pb] = [a, b].map((n) => n.app.canvases.get('main')!.pixels)
  t.ok(pa.equals(pb), 'the same canvas bytes on both nodes')
  const at = 3 * a.app.canvases.get('main')!.width * 3 // pixel (0, 3)
  t.same([...pa.subarray(at, at + 3)], [255, 255, 255], 'the vandal\'s first pixel is white again')
  // The guard itself: an append planned against a seq the order has left is refused, nothing appended.
  const main = a.app.canvases.get('main')!
  const order = a.app.clusterBroker!.sequencer
  const r = new Redis(redis.url)
  t.teardown(() => r.disconnect())
  const before = await r.hget('pixelwire:canvas:{main}:meta', 'seq')
  const record = pixel(5, 5, 1, 1, 1).subarray(1)
  t.equal(record.length, 7, 'one pixel record')
  const stale = order.appendAt('main', main.epoch, record, [{ user: 'ops', count: 1 }], Number(before) - 1)
  await t.rejects(stale, /^MOVED the canvas is at seq/, 'a stale plan is refused with MOVED')
  t.equal(await r.hget('pixelwire:canvas:{main}:meta', 'seq'), before, 'nothing appended')
  for (const w of [vandal, painter]) w.client.close()
})
