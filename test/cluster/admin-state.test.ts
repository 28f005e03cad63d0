// Cluster-wide admin state (issue 12 "settings"; issue 13 in cluster mode)
// with a real redis-server and 3 real node processes of the built server:
// live settings and region locks changed on one node are in force on every
// node, also on a node that was down when they changed; canvases created on
// one node are served by all; freeze, palette, reset, delete and revert go
// through the cluster's order, so every node applies them at the same point.
// Every wait polls a condition; nothing asserts speed.
import t, { type Test } from 'tap'
import { TestClient, handshake, isHello, isSnapshot, isType, parseSnapshot, pixel, token } from '../helper.js'
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

t.test('three nodes: settings, locks, canvases and their lifecycle cluster-wide', async (t) => {
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

  /** Every node at the same seq of `canvas` (REST), then a fresh joiner's snapshot on each: same seq, same bytes. */
  async function sameEverywhere (t: Test, canvas: string, what: string): Promise<{ seq: number, epoch: string, px: Buffer }> {
    let seq = -1
    await until(async () => {
      const seqs = await Promise.all(nodes.map(async (n) => (await api(n, 'GET', `/api/canvases/${canvas}`)).json?.seq))
      seq = seqs[0]
      return seqs.every((s) => s === seqs[0] && s !== undefined)
    }, 20000, `${what}: every node at one seq`)
    const joined = await Promise.all(nodes.map((n, i) => join(n, `snap-${i}`, canvas)))
    const snaps = joined.map((j) => parseSnapshot(j.snap))
    t.same(snaps.map((p) => p.seq), [seq, seq, seq], `${what}: the snapshot seq on every node`)
    t.ok(snaps.every((p) => p.px.equals(snaps[0].px)), `${what}: the same canvas bytes on every node`)
    const epochs = joined.map((j) => j.hello.canvas.epoch)
    t.same(epochs, [epochs[0], epochs[0], epochs[0]], `${what}: one epoch`)
    for (const j of joined) j.c.close()
    return { seq, epoch: epochs[0], px: snaps[0].px }
  }

  t.test('a canvas created on A is served by B and C, live and after a restart', async (t) => {
    const res = await api(nodes[0], 'POST', '/api/admin/canvases', { id: 'extra', width: 32, height: 16, palette: ['#000000', '#0a141e'] })
    t.equal(res.status, 201)
    t.equal((await api(nodes[1], 'POST', '/api/admin/canvases', { id: 'extra', width: 8, height: 8 })).status, 409, 'the id is the cluster\'s: B refuses it')
    for (const n of nodes.slice(1)) {
      await until(async () => (await api(n, 'GET', '/api/canvases/extra')).status === 200, 10000, `${n.id} serves extra (REST)`)
      const j = await join(n, `extra-${n.id}`, 'extra')
      t.same([j.hello.canvas.id, j.hello.canvas.width, j.hello.canvas.height, j.hello.canvas.palette], ['extra', 32, 16, ['#000000', '#0a141e']], `${n.id}: the size and palette in hello`)
      j.c.close()
    }
    // a draw on B reaches a watcher on C
    const w = await join(nodes[2], 'extra-watch', 'extra')
    const p = await join(nodes[1], 'extra-painter', 'extra')
    t.equal(await drawOutcome(p.c, 3, 3, 'e1'), 'synced', 'B accepts a draw in the palette')
    await w.c.next((m) => m.bin?.[0] === 0x11, 10000)
    p.c.close()
    w.c.close()
    const before = await sameEverywhere(t, 'extra', 'after a draw')
    await nodes[2].kill9()
    await restart(2)
    const after = await sameEverywhere(t, 'extra', 'C restarted')
    t.equal(after.seq, before.seq)
  })

  t.test('freeze and palette: set on one node, checked at intake on every node', async (t) => {
    const p = await join(nodes[1], 'frozen-painter')
    const watcher = await join(nodes[2], 'frozen-watcher')
    t.equal((await api(nodes[0], 'PATCH', '/api/admin/canvases/main', { frozen: true })).json.frozen, true, 'A answers frozen')
    t.equal((await watcher.c.next(isType('canvas'), 10000)).json.frozen, true, 'a client on C is told')
    t.equal(await drawOutcome(p.c, 30, 30, 'f1'), 'FROZEN', 'B refuses a draw: FROZEN')
    t.equal((await api(nodes[2], 'GET', '/api/canvases/main')).json.frozen, true, 'C shows it')
    t.equal((await api(nodes[2], 'PATCH', '/api/admin/canvases/main', { frozen: false, palette: ['#ff0000'] })).status, 200, 'unfrozen with a palette on C')
    await until(async () => (await drawOutcome(p.c, 31, 31, `f${Date.now()}`)) === 'BAD_COLOR', 10000, 'B: unfrozen, but the colour is not in the palette')
    p.c.send(pixel(32, 32, 255, 0, 0))
    p.c.send(JSON.stringify({ type: 'sync', id: 'red' }))
    t.equal((await p.c.next((m) => m.json?.type === 'synced' || m.json?.type === 'error', 10000)).json.type, 'synced', 'B accepts the palette colour')
    t.equal((await api(nodes[1], 'PATCH', '/api/admin/canvases/main', { palette: null })).status, 200)
    await until(async () => (await drawOutcome(p.c, 33, 33, `n${Date.now()}`)) === 'synced', 10000, 'palette dropped: any colour again on B')
    p.c.close()
    watcher.c.close()
  })

  t.test('reset on A: watchers on B and C get the new epoch at the same seq and the same bytes', async (t) => {
    const painter = await join(nodes[0], 'pre-reset')
    t.equal(await drawOutcome(painter.c, 40, 40, 'pr'), 'synced')
    painter.c.close()
    const before = await sameEverywhere(t, 'main', 'before the reset')
    const watchers = await Promise.all([nodes[1], nodes[2]].map((n, i) => join(n, `reset-watch-${i}`)))
    const res = await api(nodes[0], 'POST', '/api/admin/canvases/main/reset')
    t.equal(res.status, 200)
    t.not(res.json.epoch, before.epoch, 'a new epoch')
    t.equal(res.json.seq, before.seq, 'numbered on from the seq it had')
    for (const w of watchers) {
      const msg = (await w.c.next(isType('canvas'), 10000)).json
      t.same([msg.epoch, msg.seq], [res.json.epoch, res.json.seq], 'the canvas message: new epoch at the same seq')
      const snap = parseSnapshot((await w.c.next(isSnapshot, 10000)).bin!)
      t.equal(snap.seq, res.json.seq, 'resynced by a snapshot at that seq')
      t.ok(snap.px.every((b) => b === 0xff), 'blank')
      w.c.close()
    }
    const after = await sameEverywhere(t, 'main', 'after the reset')
    t.equal(after.epoch, res.json.epoch)
    const p = await join(nodes[2], 'post-reset')
    t.equal(await drawOutcome(p.c, 1, 1, 'post'), 'synced', 'draws go on in the new epoch (on C)')
    p.c.close()
    await sameEverywhere(t, 'main', 'a draw after the reset')
  })

  t.test('revert on C of pixels painted via A: every node the same bytes and seq', async (t) => {
    const vandal = await join(nodes[0], 'vandal')
    for (let i = 0; i < 10; i++) vandal.c.send(pixel(i, 5, 1, 2, 3))
    vandal.c.send(JSON.stringify({ type: 'sync', id: 'v' }))
    await vandal.c.next((m) => m.json?.type === 'synced', 10000)
    vandal.c.close()
    const painted = await sameEverywhere(t, 'main', 'after the vandal')
    const rev = await api(nodes[2], 'POST', '/api/admin/canvases/main/revert', { user: 'vandal' })
    t.same([rev.status, rev.json.reverted, rev.json.seq], [200, 10, painted.seq + 10], 'ten pixels reverted, numbered in the one order')
    const after = await sameEverywhere(t, 'main', 'after the revert')
    t.equal(after.seq, painted.seq + 10)
    const snap = await join(nodes[1], 'revert-check')
    const px = parseSnapshot(snap.snap)
    t.same(px.at(0, 5), [255, 255, 255], 'the vandal\'s pixel is white again (on B)')
    snap.c.close()
  })

  t.test('delete on B: clients on A and C closed with 4404; gone everywhere, also after a restart', async (t) => {
    const onA = await join(nodes[0], 'del-a', 'extra')
    const onC = await join(nodes[2], 'del-c', 'extra')
    t.equal((await api(nodes[1], 'DELETE', '/api/admin/canvases/extra')).status, 204)
    t.equal((await onA.c.closed).code, 4404, 'closed with 4404 on A')
    t.equal((await onC.c.closed).code, 4404, 'closed with 4404 on C')
    for (const n of nodes) {
      await until(async () => (await api(n, 'GET', '/api/canvases/extra')).status === 404, 10000, `${n.id}: extra is gone`)
    }
    await nodes[0].kill9()
    const a = await restart(0)
    t.equal((await api(a, 'GET', '/api/canvases/extra')).status, 404, 'a restarted node does not bring it back')
    t.equal((await handshake(`${a.ws}?canvas=extra`, { headers: { authorization: `Bearer ${token({ sub: 'x', role: 'painter' })}` } })).status, 404, 'nor serves it')
    // the id can be used again, fresh
    const again = await api(nodes[2], 'POST', '/api/admin/canvases', { id: 'extra', width: 8, height: 8 })
    t.equal(again.status, 201)
    await sameEverywhere(t, 'extra', 'created again')
  })
})
