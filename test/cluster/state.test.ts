// Cluster-wide state (issue 12, points 7, 8, 9; contract §9.5-9.7) with a
// real redis-server and 3 real node processes of the built server: kicks,
// user and canvas broadcasts routed to the node holding the connection,
// `delivered` summed over nodes, the admin list of every node's
// connections; one pixel budget and one per-user cap across nodes; a
// SIGKILLed node's connections and presence vanish within seconds; stream
// messages in one offset order on every node, `since` on another node and
// after a node restart. Every wait polls a condition; nothing asserts speed.
import t from 'tap'
import { handshake, isError, isHello, isSnapshot, isType, pixel, TestClient, token, type Msg } from '../helper.js'
import { promtoolCheck, samples } from '../promtool.js'
import { startNodes, startRedis, until, type Node } from './redis.js'

// Real processes (and, for the first cluster test file, compiling the
// server) on a loaded machine: more than the 120 s per file of package.json.
t.setTimeout(360000)

const ADMIN = token({ sub: 'ops', role: 'admin' })
const auth = { authorization: `Bearer ${ADMIN}` }

async function join (n: Node, sub: string, role = 'painter'): Promise<{ c: TestClient, id: number, hello: any }> {
  const c = new TestClient(`${n.ws}?canvas=main`, { token: token({ sub, role }) })
  await c.opened
  const hello = (await c.next(isHello, 10000)).json
  await c.next(isSnapshot, 10000)
  return { c, id: hello.connectionId, hello }
}

async function api (n: Node, method: string, path: string, body?: unknown): Promise<{ status: number, json: any, headers: Headers }> {
  const res = await fetch(`${n.url}${path}`, {
    method,
    headers: { ...auth, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
    body: body === undefined ? undefined : JSON.stringify(body)
  })
  const text = await res.text()
  return { status: res.status, json: text === '' ? null : JSON.parse(text), headers: res.headers }
}

const upgrade = (n: Node, sub: string) => handshake(`${n.ws}?canvas=main`, { headers: { authorization: `Bearer ${token({ sub, role: 'painter' })}` } })

/** Stream messages a client got on `stream`, as offsets, in arrival order. */
const offsets = (c: TestClient, stream: string): number[] =>
  c.msgs.filter((m: Msg) => m.json?.type === 'message' && m.json.stream === stream).map((m) => m.json.offset)

t.test('three nodes, one Redis: routing, caps, budget, presence, streams', async (t) => {
  const redis = await startRedis(t)
  const { nodes, restart } = await startNodes(t, 3, {
    redisUrl: redis.url,
    env: {
      CLUSTER_HEARTBEAT_MS: '200',
      CLUSTER_NODE_TTL_MS: '1500',
      CLUSTER_REPLY_TIMEOUT_MS: '3000',
      CLUSTER_BUDGET_SETTLE_MS: '50',
      MAX_CONNECTIONS_PER_USER: '3',
      PIXEL_RATE: '0.001',
      PIXEL_BURST: '20',
      PRESENCE_MS: '100',
      STREAM_NAMESPACES: JSON.stringify({ room: { subscribe: ['viewer', 'painter', 'admin'], publish: ['painter', 'admin'], maxBytes: 1000, rate: 1000, burst: 1000, history: 50 } })
    }
  })
  const [a, b, c] = nodes
  // Every node sees the others before anything is asked of the cluster.
  await until(async () => (await api(a, 'GET', '/api/admin/connections')).status === 200, 20000, 'admin list answers')

  t.test('hello names the node; connection ids are unique across nodes', async (t) => {
    const joined = await Promise.all([a, b, c, a, b, c].map((n, i) => join(n, `idcheck-${i}`)))
    t.same(joined.map((j) => j.hello.node), ['node-1', 'node-2', 'node-3', 'node-1', 'node-2', 'node-3'])
    const ids = joined.map((j) => j.id)
    t.equal(new Set(ids).size, ids.length, `distinct ids: ${ids.join(',')}`)
    t.ok(ids.every((id) => Number.isInteger(id) && id > 0 && id <= 0xffffffff), 'JSON numbers, u32')
    for (const j of joined) j.c.close()
  })

  t.test('admin list on any node shows every node\'s connections with node', async (t) => {
    const on = await Promise.all([a, b, c].map((n) => join(n, `listed-${n.id}`)))
    for (const n of nodes) {
      const res = await api(n, 'GET', '/api/admin/connections')
      t.equal(res.status, 200)
      const mine = res.json.filter((v: any) => v.user.id.startsWith('listed-'))
      t.same(mine.map((v: any) => [v.id, v.node, v.user.id]).sort(), on.map((j, i) => [j.id, nodes[i].id, `listed-${nodes[i].id}`]).sort(), `as seen from ${n.id}`)
      t.equal(res.headers.get('x-partial'), null, 'every node answered')
    }
    const one = await api(a, 'GET', `/api/admin/connections/${on[2].id}`)
    t.same([one.status, one.json.node, one.json.id], [200, 'node-3', on[2].id], 'GET /:id finds a connection on another node')
    const filtered = await api(b, 'GET', '/api/admin/connections?user=listed-node-1')
    t.same(filtered.json.map((v: any) => v.id), [on[0].id], 'filters apply on every node')
    for (const j of on) j.c.close()
  })

  t.test('kick on node A closes a connection on node C', async (t) => {
    const victim = await join(c, 'kicked')
    const res = await api(a, 'DELETE', `/api/admin/connections/${victim.id}`)
    t.equal(res.status, 204)
    t.equal((await victim.c.closed).code, 4403, 'closed with 4403 (kicked) on node-3')
    const again = await api(a, 'DELETE', `/api/admin/connections/${victim.id}`)
    t.same([again.status, again.json.error], [404, 'CONNECTION_NOT_FOUND'], 'gone: 404 on any node')
    t.equal((await api(b, 'DELETE', '/api/admin/connections/4294967295')).status, 404, 'an id nobody holds: 404')
  })

  t.test('user and canvas broadcasts from node A reach every node; delivered sums them', async (t) => {
    const u = await Promise.all([b, c, c].map((n) => join(n, 'bcast-user')))
    const other = await join(a, 'bcast-other')
    const res = await api(a, 'POST', '/api/admin/broadcast', { user: 'bcast-user', data: { hi: 1 } })
    t.same([res.status, res.json.delivered], [200, 3], 'three connections on two other nodes')
    for (const j of u) t.same((await j.c.next(isType('broadcast'), 10000)).json, { type: 'broadcast', user: 'bcast-user', data: { hi: 1 } })
    t.ok(await other.c.nothing(isType('broadcast'), 200), 'not to another user')
    // canvas main: everyone connected now (the four above), on three nodes
    const all = await api(b, 'POST', '/api/admin/broadcast', { canvas: 'main', data: 'all' })
    const listed = (await api(b, 'GET', '/api/admin/connections?canvas=main')).json.length
    t.equal(all.json.delivered, listed, `canvas broadcast delivered to all ${listed} clients of main on every node`)
    for (const j of [...u, other]) t.equal((await j.c.next(isType('broadcast'), 10000)).json.data, 'all')
    for (const j of [...u, other]) j.c.close()
  })

  t.test('one pixel budget across two nodes', async (t) => {
    const p1 = await join(a, 'budget-user')
    const p2 = await join(b, 'budget-user')
    t.equal(p2.hello.limits.pixelsAvailable, 20, 'a full budget to start with')
    for (let i = 0; i < 20; i++) p1.c.send(pixel(i, 0, 255, 0, 0))
    t.ok(await p1.c.nothing(isError('RATE_LIMITED'), 300), 'the whole burst on node-1')
    // Redis has it once a fresh handshake on node-2 loads an empty budget...
    await until(async () => {
      const probe = await join(b, 'budget-user')
      probe.c.close()
      await probe.c.closed
      return probe.hello.limits.pixelsAvailable === 0
    }, 20000, 'node-2 sees the spent budget')
    // ...and node-2's open connection is bound by it too: its next pixel is refused.
    p2.c.send(pixel(0, 1, 0, 255, 0))
    const err = (await p2.c.next(isError('RATE_LIMITED'), 10000)).json
    t.ok(err.retryAfterMs > 0, 'refused on node-2 with a wait')
    p1.c.close()
    p2.c.close()
  })

  t.test('per-user connection cap across nodes', async (t) => {
    const held = await Promise.all([a, a, b].map((n) => join(n, 'capped')))
    const refused = await upgrade(c, 'capped')
    t.equal(refused.status, 429)
    t.same(JSON.parse(refused.body).error, 'TOO_MANY_CONNECTIONS')
    held[0].c.close()
    await held[0].c.closed
    await until(async () => (await upgrade(c, 'capped')).status === 101, 20000, 'a slot frees on another node once one closes')
    for (const j of held.slice(1)) j.c.close()
  })

  t.test('JSON streams: one offset order on every node; since on another node', async (t) => {
    const subs = await Promise.all([a, b, c].map((n) => join(n, `sub-${n.id}`)))
    for (const s of subs) {
      s.c.send(JSON.stringify({ type: 'subscribe', stream: 'room:one' }))
      await s.c.next(isType('subscribed'), 10000)
    }
    // publishers on two nodes at once, interleaving
    const pubs = await Promise.all([a, c].map((n) => join(n, `pub-${n.id}`)))
    for (let i = 0; i < 20; i++) for (const [k, p] of pubs.entries()) p.c.send(JSON.stringify({ type: 'publish', stream: 'room:one', data: { k, i } }))
    await until(() => subs.every((s) => offsets(s.c, 'room:one').length === 40), 20000, 'every subscriber got all 40')
    const orders = subs.map((s) => offsets(s.c, 'room:one'))
    t.same(orders[1], orders[0], 'node-2 saw the order of node-1')
    t.same(orders[2], orders[0], 'node-3 saw the order of node-1')
    t.same(orders[0], orders[0].map((_o, i) => orders[0][0] + i), 'consecutive offsets')
    const datas = subs.map((s) => s.c.msgs.filter((m) => m.json?.stream === 'room:one').map((m) => JSON.stringify(m.json.data)))
    t.same(datas[2], datas[0], 'same messages at the same offsets')

    // a client that saw the first 10 resumes on another node
    const since = orders[0][9]
    const r = await join(b, 'resumer')
    r.c.send(JSON.stringify({ type: 'subscribe', stream: 'room:one', since }))
    const ack = (await r.c.next(isType('subscribed'), 10000)).json
    t.same([ack.offset, ack.recovered], [orders[0][39], true])
    await until(() => offsets(r.c, 'room:one').length === 30, 10000, 'the 30 missed ones replayed')
    t.same(offsets(r.c, 'room:one'), orders[0].slice(10), 'exactly the missed ones, in order')

    // delivered of an admin stream broadcast sums the subscribers of every node (3 + the resumer)
    const res = await api(c, 'POST', '/api/admin/broadcast', { stream: 'room:one', data: 'admin' })
    t.same([res.status, res.json.delivered, res.json.offset], [200, 4, orders[0][39] + 1])
    for (const x of [...subs, ...pubs, r]) x.c.close()
  })

  t.test('cluster metrics: promtool-clean, three live nodes', async (t) => {
    const text = await (await fetch(`${a.url}/metrics`)).text()
    const m = samples(text)
    t.equal(m.get('pixelwire_cluster_nodes'), 3)
    t.ok((m.get('pixelwire_cluster_budget_settles_total') ?? 0) > 0, 'the budget test settled with Redis')
    t.ok(m.has('pixelwire_cluster_streams_followed'))
    const checked = await promtoolCheck(text)
    t.equal(checked.code, 0, `promtool: ${checked.output}`)
  })

  t.test('a SIGKILLed node: its connections stop counting, its people leave, its streams history stays', async (t) => {
    const watcher = await join(a, 'watcher')
    const doomed = await Promise.all([c, c, c].map(() => join(c, 'doomed')))
    await until(() => watcher.c.msgs.some((m) => m.json?.type === 'presence' && m.json.joined.some((j: any) => j.connectionId === doomed[2].id)), 10000, 'node-1 hears of node-3\'s joins')
    t.equal((await upgrade(a, 'doomed')).status, 429, 'the cap counts node-3\'s three')
    await c.kill9()
    await until(async () => (await upgrade(a, 'doomed')).status === 101, 20000, 'node-3\'s connections stop counting')
    await until(() => {
      const left = watcher.c.msgs.filter((m) => m.json?.type === 'presence').flatMap((m) => m.json.left)
      return doomed.every((d) => left.includes(d.id))
    }, 20000, 'node-3\'s people left the roster of node-1')
    const list = (await api(a, 'GET', '/api/admin/connections')).json
    t.notOk(list.some((v: any) => v.node === 'node-3'), 'no node-3 connection listed')

    // publish while node-3 is down; it comes back and replays from its history
    const pub = await join(b, 'pub-late')
    pub.c.send(JSON.stringify({ type: 'publish', stream: 'room:one', data: 'late' }))
    const late = (await pub.c.next(isType('published'), 10000)).json.offset
    const back = await restart(2)
    const r = await join(back, 'after-restart')
    r.c.send(JSON.stringify({ type: 'subscribe', stream: 'room:one', since: late - 1 }))
    t.same((await r.c.next(isType('subscribed'), 10000)).json.recovered, true)
    t.same((await r.c.next((m) => m.json?.type === 'message', 10000)).json, { type: 'message', stream: 'room:one', offset: late, data: 'late' }, 'the message published while it was down')
    for (const x of [watcher, pub, r]) x.c.close()
  })
})
