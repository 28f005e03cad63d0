// Issue 12 points 4 and 6, real processes:
// - kill -9 of a node mid-stream: its clients reconnect to another node and
//   resume with since + epoch, no gap; nothing any client was shown is lost;
//   the other nodes serve throughout (their painters' draws keep appearing).
// - a node paused (SIGSTOP) while the others paint, then resumed: within
//   what the stream keeps, it catches up from the stream and its clients
//   see no gap and no duplicate; paused for longer than the stream keeps
//   entries (a short stream and frequent snapshots here), it finds the gap,
//   drains (its clients get 1001 and resume elsewhere) and exits 75; started
//   again (what a supervisor does), it installs the cluster snapshot at boot
//   and serves the same canvas at the same seq.
import { Redis } from 'ioredis'
import t, { type Test } from 'tap'
import { TestClient, isHello, token } from '../helper.js'
import { samples } from '../promtool.js'
import { within } from '../process.js'
import { startNodes, startRedis, until, type Node } from './redis.js'
import { paintRow, watch, type Watcher } from './watch.js'

// Real processes (and, for the first cluster test file, compiling the
// server) on a loaded machine: more than the 120 s per file of package.json.
t.setTimeout(360000)

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))
const seqOf = async (n: Node): Promise<number> => (await (await fetch(`${n.url}/api/canvases/main`)).json() as any).seq

/** Poll until every watcher is at node `n`'s seq (asked again each time: draws in flight may still land). */
async function settled (n: Node, watchers: Watcher[], what: string): Promise<number> {
  let seq = -1
  await until(async () => {
    seq = await seqOf(n)
    return watchers.every((w) => w.seq === seq)
  }, 60000, what)
  return seq
}

async function painter (n: Node, sub: string): Promise<TestClient> {
  const c = new TestClient(n.ws, { token: token({ sub }) })
  await c.opened
  await c.next(isHello, 10000)
  return c
}

/** Paint in rounds from `clients` (each its own colour) until stopped. */
function paintLoop (clients: TestClient[]) {
  const state = { on: true }
  let row = 0
  const done = (async () => {
    while (state.on) {
      clients.forEach((c, i) => { if (c.ws.readyState === c.ws.OPEN) paintRow(c, i + 1, row % 1000, 10) })
      row++
      await sleep(25)
    }
  })()
  return async () => { state.on = false; await done }
}

/** `before` then `after` (its resume) must be exactly `reference` from `before.start` on. */
function sameAsReference (t: Test, before: Watcher, after: Watcher, reference: Watcher, what: string): void {
  t.same([...before.faults, ...after.faults], [], `${what}: no gap, no duplicate`)
  t.equal(after.start, before.seq, `${what}: resumed right after the last change it was shown`)
  const mine = [...before.changes, ...after.changes]
  t.same(mine, reference.changes.slice(before.start - reference.start, before.start - reference.start + mine.length), `${what}: every change at the same seq as the reference`)
}

t.test('kill -9 of a node mid-stream', async (t) => {
  const redis = await startRedis(t)
  const { nodes } = await startNodes(t, 3, { redisUrl: redis.url, env: { TICK_MS: '20', PIXEL_RATE: '100000', PIXEL_BURST: '100000' } })
  const reference = await watch(nodes[2].ws, 'reference', { role: 'viewer' })
  const victim = await watch(nodes[0].ws, 'victim', { role: 'viewer' })
  const painters = await Promise.all(nodes.map((n, i) => painter(n, `painter-${i}`)))
  const stop = paintLoop(painters)
  await until(() => victim.seq >= 300, 60000, 'the victim watches a stream')

  await nodes[0].kill9()
  const closed = await within(victim.client.closed, 10000, 'the victim sees its node go')
  t.equal(closed.code, 1006, 'dropped without a close frame (kill -9)')
  const atKill = reference.seq
  const resumed = await watch(nodes[1].ws, 'victim', { role: 'viewer', since: victim.seq, epoch: victim.hello.canvas.epoch })
  t.equal(resumed.hello.resume, 'replay', 'resumed on node-2 by replay')
  await until(() => reference.seq > atKill + 200, 60000, 'the other nodes keep serving and painting')
  await stop()
  const final = await settled(nodes[1], [resumed, reference], 'settled')
  t.equal(await seqOf(nodes[2]), final, 'node-3 at the same seq')
  sameAsReference(t, victim, resumed, reference, 'the victim')
  t.same(reference.faults, [], 'the reference (node-3) saw no gap')
  for (const c of [...painters, reference.client, resumed.client]) c.close()
})

t.test('a paused node catches up from the stream; paused longer than the stream keeps, from the snapshot', async (t) => {
  const redis = await startRedis(t)
  const env = { TICK_MS: '20', PIXEL_RATE: '100000', PIXEL_BURST: '100000', REDIS_STREAM_MAXLEN: '100', SNAPSHOT_EVERY: '200' }
  const cluster = await startNodes(t, 3, { redisUrl: redis.url, env })
  const { nodes } = cluster
  const reference = await watch(nodes[2].ws, 'reference', { role: 'viewer' })
  const paused = await watch(nodes[0].ws, 'paused', { role: 'viewer' })
  const painters = await Promise.all([1, 2].map((i) => painter(nodes[i], `painter-${i}`)))

  // Short pause: the stream still holds what node-1 missed.
  let stop = paintLoop(painters)
  await until(() => reference.seq >= 100, 60000, 'painting flows')
  nodes[0].child.kill('SIGSTOP')
  const fromSeq = reference.seq
  await until(() => reference.seq >= fromSeq + 30, 60000, 'a few entries while node-1 is paused')
  await stop()
  nodes[0].child.kill('SIGCONT')
  await settled(nodes[1], [paused, reference], 'node-1 catches up from the stream')
  t.same(paused.faults, [], 'its client: no gap, no duplicate')
  t.same(paused.changes, reference.changes.slice(paused.start - reference.start), 'the same changes as node-3\'s client')

  // Long pause: hundreds of entries, snapshots every 200 changes, a stream of ~100 entries.
  nodes[0].child.kill('SIGSTOP')
  stop = paintLoop(painters)
  const before = reference.seq
  await until(() => reference.seq >= before + 1500, 90000, 'far more than the stream keeps while node-1 is paused')
  await stop()
  // The point of the test: Redis no longer holds what node-1 needs next.
  const r = new Redis(redis.url)
  r.on('error', () => {})
  const first = await r.xrange('pixelwire:canvas:{main}:log', '-', '+', 'COUNT', 1)
  r.disconnect()
  t.ok(Number(first[0][1][1]) > paused.seq, `the stream starts after seq ${first[0][1][1]}, node-1 is at ${paused.seq}`)
  nodes[0].child.kill('SIGCONT')
  const exit = await within(nodes[0].exited, 30000, 'node-1 stops: the stream moved past it')
  t.equal(exit.code, 75, 'exit 75: restart me')
  t.match(nodes[0].out(), /behind the cluster stream/, 'and says why')
  const closed = await within(paused.client.closed, 10000, 'its client is let go')
  t.equal(closed.code, 1001, 'with 1001: reconnect with since')
  const resumed = await watch(nodes[1].ws, 'paused', { role: 'viewer', since: paused.seq, epoch: paused.hello.canvas.epoch })
  const final = await settled(nodes[1], [resumed], 'the client resumed on node-2')
  sameAsReference(t, paused, resumed, reference, 'the paused node\'s client')

  const again = await cluster.restart(0)
  t.equal(await seqOf(again), final, 'restarted, node-1 is at the cluster\'s seq at once')
  t.match(again.out(), /installed the cluster snapshot/, 'from the cluster snapshot')
  const m = samples(await (await fetch(`${again.url}/metrics`)).text())
  t.equal(m.get('pixelwire_redis_gaps_filled_total'), 1, 'gap filled, counted')
  const joiners = await Promise.all([again, nodes[1]].map((n, i) => watch(n.ws, `joiner-${i}`, { role: 'viewer' })))
  t.ok(joiners[0].snapshot!.equals(joiners[1].snapshot!), 'the same canvas bytes as node-2')
  // A resume from before its snapshot cannot be replayed there (no log before it): a snapshot instead.
  const old = await watch(again.ws, 'old', { role: 'viewer', since: 5, epoch: paused.hello.canvas.epoch })
  t.equal(old.hello.resume, 'snapshot', 'a since older than its log gets a snapshot, never a replay with a hole')
  for (const c of [...painters, reference.client, resumed.client, old.client, ...joiners.map((j) => j.client)]) c.close()
})
