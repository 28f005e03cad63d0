// historyMaxAge in cluster mode (stream history in Redis Streams): messages
// older than their namespace's historyMaxAge are never replayed (neither by
// `since` nor by `last`, on the node that published them or another one)
// and are dropped from the Redis Stream by the next append; newer ones are
// replayed as before. Two nodes in this process, a real redis-server of the
// test's own; waits are conditions (the age has passed), never timings.
import t from 'tap'
import { Redis } from 'ioredis'
import { TestClient, isHello, isType, listen, token, type Listening } from '../helper.js'
import { startRedis, until } from './redis.js'

t.setTimeout(360000)

const NAMESPACES = JSON.stringify({
  brief: { subscribe: ['viewer', 'painter', 'admin'], publish: ['painter', 'admin'], maxBytes: 1000, rate: 1000, burst: 1000, history: 50, historyMaxAge: 1 },
  kept: { subscribe: ['viewer', 'painter', 'admin'], publish: ['painter', 'admin'], maxBytes: 1000, rate: 1000, burst: 1000, history: 50, historyMaxAge: 0 }
})

const env = (redisUrl: string, node: string) => ({
  REDIS_URL: redisUrl, NODE_ID: node, STREAM_NAMESPACES: NAMESPACES, REDIS_HEALTH_MS: '100'
})

async function client (n: Listening, sub: string): Promise<TestClient> {
  const c = new TestClient(n.wsUrl, { token: token({ sub, role: 'painter' }) })
  await c.opened
  await c.next(isHello, 10000)
  return c
}

/** Subscribe (with since or last) on a fresh client: the ack and the messages replayed with it. */
async function replay (n: Listening, stream: string, ask: { since?: number, last?: number }): Promise<{ ack: any, offsets: number[] }> {
  const c = await client(n, `replay-${Math.random()}`)
  c.send(JSON.stringify({ type: 'subscribe', stream, ...ask }))
  const ack = (await c.next(isType('subscribed'), 10000)).json
  // The replay is sent with the ack, before anything live: a sync round trip shows it all arrived.
  c.send(JSON.stringify({ type: 'sync', id: 'r' }))
  await c.next(isType('synced'), 10000)
  const offsets = c.msgs.filter((m) => m.json?.type === 'message' && m.json.stream === stream).map((m) => m.json.offset)
  c.close()
  return { ack, offsets }
}

t.test('cluster streams: historyMaxAge bounds what is replayed and what Redis keeps', async (t) => {
  const redis = await startRedis(t)
  const a = await listen(t, env(redis.url, 'a'))
  const b = await listen(t, env(redis.url, 'b'))
  const r = new Redis(redis.url)
  t.teardown(() => r.disconnect())

  const pub = await client(a, 'publisher')
  const offsets: Record<string, number[]> = { 'brief:x': [], 'kept:x': [] }
  async function publish (stream: string, data: unknown): Promise<number> {
    pub.send(JSON.stringify({ type: 'publish', stream, data }))
    const o = (await pub.next((m) => m.json?.type === 'published', 10000)).json.offset
    offsets[stream].push(o)
    return o
  }
  for (const stream of Object.keys(offsets)) for (let i = 0; i < 3; i++) await publish(stream, i)
  const first = offsets['brief:x'][0]

  // Young: replayed on both nodes, by since and by last.
  for (const n of [a, b]) {
    const young = await replay(n, 'brief:x', { since: first - 1 })
    t.same([young.ack.recovered, young.offsets], [true, offsets['brief:x']], `${n.config.NODE_ID}: all three replayed while young`)
  }
  t.equal(await r.xlen('pixelwire:stream:{brief:x}'), 3)

  // Once older than historyMaxAge (1 s): not replayed, on either node.
  const end = Date.now() + 1000
  await until(() => Date.now() > end + 50, 5000, 'the messages are past historyMaxAge')
  for (const n of [a, b]) {
    const old = await replay(n, 'brief:x', { since: first - 1 })
    t.same([old.ack.recovered, old.offsets], [false, []], `${n.config.NODE_ID}: since before expired messages is not recovered`)
    const lastOld = await replay(n, 'brief:x', { last: 10 })
    t.same(lastOld.offsets, [], `${n.config.NODE_ID}: last replays none of them`)
  }
  // A namespace without an age keeps them.
  const kept = await replay(b, 'kept:x', { last: 10 })
  t.same(kept.offsets, offsets['kept:x'], 'historyMaxAge 0: kept')

  // The next append drops the expired entries from Redis; the new one is replayed.
  const fresh = await publish('brief:x', 'new')
  t.same(await r.xrange('pixelwire:stream:{brief:x}', '-', '+').then((es) => es.map((e) => Number(e[0].split('-')[0]))), [fresh], 'Redis keeps only the young entry')
  t.equal(await r.xlen('pixelwire:stream:{kept:x}'), 3, 'the other stream untouched')
  for (const n of [a, b]) {
    await until(async () => (await replay(n, 'brief:x', { last: 10 })).offsets.join() === String(fresh), 10000, `${n.config.NODE_ID} replays the new message`)
    const since = await replay(n, 'brief:x', { since: fresh - 1 })
    t.same([since.ack.recovered, since.offsets], [true, [fresh]], `${n.config.NODE_ID}: since just before it recovers it`)
  }
  pub.close()
})
