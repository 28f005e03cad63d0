// The cluster bench scenario counts the nodes' Redis round trips from
// Redis's slow log (bench/lib/redis.ts). Issue 12's "round trips per tick
// per node" is only as true as that count: a script's inner commands must
// not count as round trips, a blocking XREAD must count once, each command
// must land on the node and connection that sent it, and nothing outside
// the window may count. A real redis-server, real named connections.
import t from 'tap'
import { Redis } from 'ioredis'
import { startRedis, tripsBegin, tripsEnd } from '../../bench/lib/redis.js'

t.test('round trips per node and connection, scripts\' inner commands apart, only inside the window', async (t) => {
  const redis = await startRedis(() => {})
  t.teardown(() => redis.stop())
  const conns: Redis[] = []
  const connect = async (name?: string) => {
    const r = new Redis(redis.url, name !== undefined ? { connectionName: name } : {})
    conns.push(r)
    await r.ping() // connected (and named) before the window: the handshake is not counted
    return r
  }
  t.teardown(() => { for (const c of conns) c.disconnect() })
  const command = await connect('pixelwire:a:command')
  const reader = await connect('pixelwire:a:reader')
  const worker = await connect('pixelwire:a-w1:command') // a node whose id starts with another's
  const stranger = await connect()

  await command.set('before', '1') // before the window
  await tripsBegin(redis.client)
  const blocked = reader.xread('BLOCK', 5000, 'STREAMS', 's', '$')
  await new Promise((resolve) => setTimeout(resolve, 100)) // the XREAD waits in Redis
  await worker.xadd('s', '*', 'f', 'v')
  t.ok(await blocked, 'the blocking read returned the entry')
  t.equal(await command.eval("redis.call('SET', KEYS[1], '1'); redis.call('GET', KEYS[1]); redis.call('HSET', KEYS[2], 'f', '1'); return 1", 2, 'k', 'h'), 1)
  await command.ping()
  await command.ping()
  await stranger.get('k')
  const trips = await tripsEnd(redis.client, ['a', 'a-w1'])
  await command.ping() // after the window

  t.same(trips.nodes.a, { total: 4, byCommand: { xread: 1, 'eval k': 1, ping: 2 }, byConnection: { reader: 1, command: 3 } }, 'node a: one blocking read, one script (named by its first key), two pings')
  t.same(trips.nodes['a-w1'], { total: 1, byCommand: { xadd: 1 }, byConnection: { command: 1 } }, 'node a-w1: its own XADD, not node a\'s')
  t.equal(trips.inScripts, 3, 'the script\'s three inner commands are not round trips')
  t.equal(trips.other, 1, 'an unnamed connection is counted apart')
  t.equal(trips.complete, true)

  // A second window starts empty.
  await tripsBegin(redis.client)
  await command.ping()
  t.same((await tripsEnd(redis.client, ['a'])).nodes.a.byCommand, { ping: 1 })
})
