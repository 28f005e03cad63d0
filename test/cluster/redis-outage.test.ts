// Issue 12 point 5: kill -9 of the Redis process mid-stream, then a restart
// on its AOF. During the outage draws are UNAVAILABLE and never shown,
// readiness is 503 naming redis on every node, connections stay open;
// afterwards every node converges (same canvas bytes, same seq) and nothing
// any client was shown is lost. Then Redis comes back EMPTY (a fresh data
// dir): every node detects it loudly (readiness, log, metric) and refuses
// draws rather than start a second order.
import t from 'tap'
import { TestClient, isError, isHello, parseSnapshot, token } from '../helper.js'
import { samples } from '../promtool.js'
import { startNodes, startRedis, until } from './redis.js'
import { paintRow, watch } from './watch.js'

// Real processes (and, for the first cluster test file, compiling the
// server) on a loaded machine: more than the 120 s per file of package.json.
t.setTimeout(360000)

const ready = async (url: string) => {
  const res = await fetch(`${url}/health/ready`)
  return { status: res.status, body: await res.json() as any }
}
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

t.test('Redis killed mid-stream and restarted on its AOF; then restarted empty', async (t) => {
  const redis = await startRedis(t)
  const env = { TICK_MS: '20', PIXEL_RATE: '100000', PIXEL_BURST: '100000', REDIS_HEALTH_MS: '200', REDIS_COMMAND_TIMEOUT_MS: '500', REDIS_RETRY_MAX_MS: '300', UNAVAILABLE_CLOSE_MS: '0' }
  const { nodes } = await startNodes(t, 3, { redisUrl: redis.url, env })
  const watchers = await Promise.all(nodes.map((n, i) => watch(n.ws, `watcher-${i}`, { role: 'viewer' })))
  const painters = await Promise.all(nodes.map(async (n, i) => {
    const c = new TestClient(n.ws, { token: token({ sub: `painter-${i}` }) })
    await c.opened
    await c.next(isHello, 10000)
    return c
  }))

  // Painting goes on in rounds while Redis is killed under it.
  let row = 0
  const painting = { on: true }
  const loop = (async () => {
    while (painting.on) {
      painters.forEach((c, i) => paintRow(c, i + 1, row % 1000, 20))
      row++
      await sleep(30)
    }
  })()
  await until(() => watchers.every((w) => w.seq >= 200), 60000, 'painting flows')
  await redis.kill9()

  for (const n of nodes) {
    await until(async () => (await ready(n.url)).status === 503, 30000, `${n.id} not ready`)
    const r = await ready(n.url)
    t.match(r.body, { error: 'NOT_READY', message: /redis/, checks: { redis: /./ } }, `${n.id}: 503 naming redis`)
    t.not(r.body.checks.redis, 'ok')
  }
  await painters[0].next(isError('UNAVAILABLE'), 20000)
  t.pass('a draw during the outage is answered UNAVAILABLE')
  // Nothing moves while Redis is away, though the painters keep drawing.
  const during = watchers.map((w) => w.seq)
  await sleep(1500)
  t.same(watchers.map((w) => w.seq), during, 'no change shown during the outage')
  t.same(watchers.map((w) => w.faults), [[], [], []])
  const shownBefore = watchers.map((w) => w.changes.slice())

  await redis.restart()
  for (const n of nodes) await until(async () => (await ready(n.url)).status === 200, 60000, `${n.id} ready again`)
  t.ok([...watchers.map((w) => w.client), ...painters].every((c) => c.ws.readyState === c.ws.OPEN), 'every connection stayed open')
  painting.on = false
  await loop
  // One more round after the outage, then everything settles.
  painters.forEach((c, i) => paintRow(c, i + 1, 2000 % 1000, 10))
  await until(async () => {
    const seqs = await Promise.all(nodes.map(async (n) => (await (await fetch(`${n.url}/api/canvases/main`)).json() as any).seq))
    return seqs.every((s) => s === seqs[0]) && watchers.every((w) => w.seq === seqs[0]) && seqs[0] > during[0]
  }, 60000, 'every node and watcher at the same seq, past the outage')
  for (let i = 0; i < 3; i++) {
    t.same(watchers[i].faults, [], `${nodes[i].id}: no gap, no duplicate`)
    t.same(watchers[i].changes.slice(0, shownBefore[i].length), shownBefore[i], `${nodes[i].id}: everything shown before is still the order`)
  }
  t.same(watchers[1].changes, watchers[0].changes, 'the same order on node-2')
  t.same(watchers[2].changes, watchers[0].changes, 'and on node-3')
  const snaps = await Promise.all(nodes.map((n, i) => watch(n.ws, `joiner-${i}`, { role: 'viewer' })))
  t.ok(snaps.every((s) => s.snapshot!.equals(snaps[0].snapshot!)), 'the same canvas bytes at the same seq on every node')
  t.equal(parseSnapshot(snaps[0].snapshot!).seq, watchers[0].seq)
  for (const s of snaps) s.client.close()

  // Redis back EMPTY: detected, loudly, and no second order is started.
  const seqBefore = watchers[0].seq
  await redis.kill9()
  await redis.restart({ fresh: true })
  for (const n of nodes) {
    await until(async () => /lost its data/.test((await ready(n.url)).body.checks?.redis ?? ''), 30000, `${n.id} reports the data loss`)
    const m = samples(await (await fetch(`${n.url}/metrics`)).text())
    t.equal(m.get('pixelwire_redis_data_lost'), 1, `${n.id}: data-lost metric`)
    t.match(n.out(), /cluster order fenced/, `${n.id}: logged`)
  }
  painters.forEach((c, i) => paintRow(c, i + 1, 3000 % 1000, 5))
  await painters[2].next(isError('UNAVAILABLE'), 20000)
  t.pass('draws refused')
  await sleep(1000)
  t.same(watchers.map((w) => w.seq), [seqBefore, seqBefore, seqBefore], 'nothing new shown: no fork of the order')
  for (const c of [...painters, ...watchers.map((w) => w.client)]) c.close()
})
