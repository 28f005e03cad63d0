// Issue 12 points 1-3 with real parts: a redis-server of the test's own
// (AOF on) and three node processes of the built server, each with its own
// DATA_DIR. Painters on all three nodes draw at once; a watcher on every
// node records every change it is shown: the three sequences are the same,
// seq by seq, without a gap or a duplicate. A client resumes on another node
// with since + epoch and gets exactly what it missed; fresh joiners on every
// node get the same snapshot bytes at the same seq. Conditions are polled
// with generous deadlines: nothing here depends on speed.
import t from 'tap'
import { TestClient, isHello, parseSnapshot, token } from '../helper.js'
import { promtoolCheck, samples } from '../promtool.js'
import { startNodes, startRedis, until } from './redis.js'
import { paintRow, watch } from './watch.js'

// Real processes (and, for the first cluster test file, compiling the
// server) on a loaded machine: more than the 120 s per file of package.json.
t.setTimeout(360000)

const PER_PAINTER = 300

t.test('three nodes, one order', async (t) => {
  const redis = await startRedis(t)
  const { nodes } = await startNodes(t, 3, { redisUrl: redis.url, env: { TICK_MS: '20', PIXEL_RATE: '100000', PIXEL_BURST: '100000' } })

  const watchers = await Promise.all(nodes.map((n, i) => watch(n.ws, `watcher-${i}`, { role: 'viewer' })))
  watchers.forEach((w, i) => t.equal(w.hello.node, nodes[i].id, `hello names the node (${nodes[i].id})`))
  const epoch = watchers[0].hello.canvas.epoch
  t.ok(watchers.every((w) => w.hello.canvas.epoch === epoch), 'one epoch on every node')

  // Painters on all three nodes at once.
  const painters = await Promise.all(nodes.map(async (n, i) => {
    const c = new TestClient(n.ws, { token: token({ sub: `painter-${i}`, name: `P${i}` }) })
    await c.opened
    await c.next(isHello, 10000)
    return c
  }))
  // A viewer that leaves half way, to resume on another node.
  const leaver = await watch(nodes[0].ws, 'leaver', { role: 'viewer' })
  painters.forEach((c, i) => paintRow(c, i + 1, i * 2, PER_PAINTER / 2))
  const total = 3 * PER_PAINTER
  await until(() => leaver.seq >= total / 2, 60000, 'the leaver saw the first half')
  leaver.client.close()
  const left = leaver.seq
  painters.forEach((c, i) => paintRow(c, i + 1, i * 2 + 10, PER_PAINTER / 2))

  const target = watchers[0].start + total
  await until(() => watchers.every((w) => w.seq >= target), 90000, `every watcher reaches seq ${target}`)
  for (const w of watchers) t.same(w.faults, [], 'no gap, no duplicate')
  t.ok(watchers.every((w) => w.start === watchers[0].start), 'the watchers started at the same seq')
  t.equal(watchers[0].changes.length, total, 'every pixel painted was shown once')
  t.same(watchers[1].changes, watchers[0].changes, 'node-2 showed the same change at every seq as node-1')
  t.same(watchers[2].changes, watchers[0].changes, 'node-3 likewise')
  const byPainter = [1, 2, 3].map((p) => watchers[0].changes.filter((c) => c.split(',')[2] === String(p)).length)
  t.same(byPainter, [PER_PAINTER, PER_PAINTER, PER_PAINTER], 'each painter\'s pixels, all of them')

  // Point 3: resume on another node with since + epoch: exactly what was missed.
  const resumed = await watch(nodes[2].ws, 'leaver', { role: 'viewer', since: left, epoch })
  t.equal(resumed.hello.resume, 'replay', 'replayed, not a snapshot')
  await until(() => resumed.seq >= target, 30000, 'the resumed client catches up')
  t.same(resumed.faults, [], 'no gap, no duplicate on resume')
  t.same(resumed.changes, watchers[0].changes.slice(left - watchers[0].start), 'exactly the changes after since, in the same order')

  // Fresh joiners on every node, once nothing moves: the same snapshot bytes for the same seq.
  const joiners = await Promise.all(nodes.map((n, i) => watch(n.ws, `joiner-${i}`, { role: 'viewer' })))
  const snaps = joiners.map((j) => parseSnapshot(j.snapshot!))
  t.ok(snaps.every((s) => s.seq === target), `every snapshot is at seq ${target}`)
  t.ok(joiners.every((j) => j.snapshot!.equals(joiners[0].snapshot!)), 'the same snapshot bytes on every node')
  const last = watchers[0].changes.at(-1)!.split(',').map(Number)
  t.same(snaps[1].at(last[0], last[1]), last.slice(2), 'the last change is in it')

  for (const c of [...painters, ...watchers.map((w) => w.client), ...joiners.map((j) => j.client), resumed.client]) c.close()
  // Point 11: each node's cluster metrics, promtool-clean.
  const scrape = async () => samples(await (await fetch(`${nodes[1].url}/metrics`)).text())
  await until(async () => (await scrape()).get('pixelwire_redis_stream_lag{canvas="main"}') === 0, 20000, 'no lag once idle (sampled every second)')
  const text = await (await fetch(`${nodes[1].url}/metrics`)).text()
  const m = samples(text)
  t.ok((m.get('pixelwire_redis_appends_total') ?? 0) > 0, 'node-2 appended batches')
  t.equal(m.get('pixelwire_redis_entries_applied_total'), m.get('pixelwire_redis_appends_total')! + (samples(await (await fetch(`${nodes[0].url}/metrics`)).text()).get('pixelwire_redis_appends_total') ?? 0) + (samples(await (await fetch(`${nodes[2].url}/metrics`)).text()).get('pixelwire_redis_appends_total') ?? 0), 'node-2 applied every batch any node appended')
  t.equal(m.get('pixelwire_redis_up'), 1)
  t.equal(m.get('pixelwire_redis_data_lost'), 0)
  t.equal(m.get('pixelwire_redis_gaps_detected_total'), 0)
  t.ok((m.get('pixelwire_redis_append_duration_seconds_count') ?? 0) > 0, 'append latency observed')
  const checked = await promtoolCheck(text)
  t.equal(checked.code, 0, `promtool: ${checked.output}`)
})
