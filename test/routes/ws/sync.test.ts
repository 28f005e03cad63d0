// The commit barrier (contract §5, v1.1) over real sockets: `sync` is
// answered `synced` once every earlier draw op is committed or refused, and
// only after the UPDATES carrying its pixels were sent to that client.
import t from 'tap'
import {
  listen, token, TestClient, isHello, isSnapshot, isUpdates, isError,
  parseUpdates, pixel, stroke, rect, collect, until, type Msg
} from '../../helper.js'

const SMALL = { DEFAULT_CANVAS_WIDTH: '64', DEFAULT_CANVAS_HEIGHT: '64' }
const isSynced = (m: Msg) => m.json?.type === 'synced'
const sync = (c: TestClient, id?: unknown) => c.send(JSON.stringify(id === undefined ? { type: 'sync' } : { type: 'sync', id }))

async function ready (c: TestClient): Promise<void> {
  await c.opened
  await c.next(isHello)
  await c.next(isSnapshot)
}

/** Every pixel in the UPDATES this client holds (received, not yet taken), as "x,y,r,g,b". */
function updatesHeld (c: TestClient): Set<string> {
  const out = new Set<string>()
  for (const m of c.msgs) if (isUpdates(m)) for (const p of parseUpdates(m.bin as Buffer).px) out.add(p.join())
  return out
}

t.test('nothing pending: answered at once with the current seq, id echoed', async (t) => {
  // A tick far away: an answer cannot come from a beat.
  const srv = await listen(t, { ...SMALL, TICK_MS: '10000' })
  const c = new TestClient(srv.wsUrl, { token: token({ sub: 'v', role: 'viewer' }) })
  await ready(c)
  t.teardown(() => c.close())
  sync(c, 'a')
  t.same((await c.next(isSynced)).json, { type: 'synced', id: 'a', seq: 0 })
  sync(c)
  t.same((await c.next(isSynced)).json, { type: 'synced', seq: 0 }, 'no id: none echoed')
})

t.test('draws then sync: synced after the UPDATES holding every pixel, seq at or after their commit', async (t) => {
  const srv = await listen(t, { ...SMALL, TICK_MS: '20' })
  const p = new TestClient(srv.wsUrl, { token: token({ sub: 'p' }) })
  const other = new TestClient(srv.wsUrl, { token: token({ sub: 'o' }) })
  await Promise.all([ready(p), ready(other)])
  t.teardown(() => { p.close(); other.close() })
  other.send(rect(0, 10, 8, 8, 5, 5, 5)) // someone else's pixels around the same time
  const mine = [pixel(1, 1, 1, 0, 0), stroke([[2, 1, 2, 0, 0], [3, 1, 3, 0, 0]]), rect(4, 1, 3, 2, 4, 0, 0)]
  for (const op of mine) p.send(op)
  sync(p, 7)
  const synced = (await p.next(isSynced)).json
  t.equal(synced.id, 7)
  // Everything received before `synced` is still held in p.msgs, in order.
  const held = updatesHeld(p)
  const want = ['1,1,1,0,0', '2,1,2,0,0', '3,1,3,0,0', '4,1,4,0,0', '5,1,4,0,0', '6,1,4,0,0', '4,2,4,0,0', '5,2,4,0,0', '6,2,4,0,0']
  t.same(want.filter((px) => !held.has(px)), [], 'every pixel arrived in UPDATES before synced')
  const lastSeq = Math.max(...p.msgs.filter(isUpdates).map((m) => parseUpdates(m.bin as Buffer).seq))
  t.ok(synced.seq >= 9, `seq ${synced.seq} is at or after the commit of 9 pixels`)
  t.ok(synced.seq <= lastSeq, `and not beyond what the client was shown (${lastSeq})`)
  const stored = srv.app.canvasStore.pixelAt('main', 6, 2)
  t.ok(stored !== undefined && stored.seq <= synced.seq, 'the last op is committed at or before seq')
})

t.test('refused draws settle too: a viewer, an out-of-bounds op, a spent budget', async (t) => {
  const srv = await listen(t, { ...SMALL, TICK_MS: '20', PIXEL_RATE: '1', PIXEL_BURST: '2' })
  const v = new TestClient(srv.wsUrl, { token: token({ sub: 'v', role: 'viewer' }) })
  const p = new TestClient(srv.wsUrl, { token: token({ sub: 'p' }) })
  await Promise.all([ready(v), ready(p)])
  t.teardown(() => { v.close(); p.close() })
  v.send(pixel(1, 1, 1, 1, 1))
  sync(v, 'v')
  await v.next(isError('FORBIDDEN'))
  t.match((await v.next(isSynced)).json, { id: 'v', seq: 0 })

  p.send(pixel(99, 1, 1, 1, 1))
  p.send(rect(0, 0, 2, 1, 1, 1, 1)) // the whole budget
  p.send(pixel(3, 3, 1, 1, 1))
  sync(p, 'p')
  await p.next(isError('OUT_OF_BOUNDS'))
  await p.next(isError('RATE_LIMITED'))
  const synced = (await p.next(isSynced)).json
  t.match(synced, { id: 'p' })
  t.ok(synced.seq >= 2, 'after the commit of the accepted op')
  t.same([...updatesHeld(p)].sort(), ['0,0,1,1,1', '1,0,1,1,1'], 'which was shown first; the refused ones never')
})

t.test('syncs are answered in the order they came, ids of any JSON type echoed', async (t) => {
  const srv = await listen(t, { ...SMALL, TICK_MS: '20' })
  const p = new TestClient(srv.wsUrl, { token: token({ sub: 'p' }) })
  await ready(p)
  t.teardown(() => p.close())
  const ids = [1, 'two', { three: [3] }, null, false]
  p.send(pixel(1, 1, 1, 1, 1))
  sync(p, ids[0])
  p.send(pixel(2, 2, 2, 2, 2))
  sync(p, ids[1])
  sync(p, ids[2])
  p.send(pixel(3, 3, 3, 3, 3))
  sync(p, ids[3])
  sync(p, ids[4])
  const got: unknown[] = []
  const seqs: number[] = []
  for (let i = 0; i < ids.length; i++) {
    const m = (await p.next(isSynced)).json
    got.push(m.id)
    seqs.push(m.seq)
  }
  t.same(got, ids)
  t.same([...seqs].sort((a, b) => a - b), seqs, 'seqs never go back')
  t.ok(seqs[4] >= 3)
  t.equal(srv.app.canvases.syncsWaiting, 0)
})

t.test('bounded: past MAX_PENDING_SYNCS a sync is RATE_LIMITED; the waiting ones still settle', async (t) => {
  const srv = await listen(t, { ...SMALL, TICK_MS: '10000', MAX_PENDING_SYNCS: '2' })
  t.equal(srv.config.MAX_PENDING_SYNCS, 2)
  const p = new TestClient(srv.wsUrl, { token: token({ sub: 'p' }) })
  await ready(p)
  t.teardown(() => p.close())
  p.send(pixel(1, 1, 1, 1, 1))
  sync(p, 1)
  sync(p, 2)
  sync(p, 3)
  t.match((await p.next(isError('RATE_LIMITED'))).json, { message: /2 syncs waiting/, retryAfterMs: 10000 })
  t.equal(srv.app.canvases.syncsWaiting, 2)
  srv.app.canvases.flush() // the beat, now
  t.same([(await p.next(isSynced)).json.id, (await p.next(isSynced)).json.id], [1, 2])
  t.equal(srv.app.canvases.syncsWaiting, 0)
  sync(p, 4)
  t.match((await p.next(isSynced)).json, { id: 4, seq: 1 }, 'then accepted again')
})

t.test('a connection closed with syncs waiting leaves none behind', async (t) => {
  const srv = await listen(t, { ...SMALL, TICK_MS: '10000' })
  const p = new TestClient(srv.wsUrl, { token: token({ sub: 'p' }) })
  await ready(p)
  p.send(pixel(1, 1, 1, 1, 1))
  sync(p, 1)
  sync(p, 2)
  await until(() => srv.app.canvases.syncsWaiting >= 2, 10000, 'both syncs registered')
  t.equal(srv.app.canvases.syncsWaiting, 2)
  p.close()
  await p.closed
  await until(() => srv.app.connections.registry.size === 0, 10000, 'the server let it go')
  t.equal(srv.app.canvases.syncsWaiting, 0, 'dropped on close')
  srv.app.canvases.flush()
  t.equal(srv.app.canvasStore.get('main')?.seq, 1, 'its pixel still committed')
  t.equal(srv.app.canvases.syncsWaiting, 0)
})

t.test('storage failing: the UNAVAILABLE refusal comes first, then synced with the seq already shown', async (t) => {
  const srv = await listen(t, { ...SMALL, TICK_MS: '20' })
  const p = new TestClient(srv.wsUrl, { token: token({ sub: 'p' }) })
  await ready(p)
  t.teardown(() => p.close())
  p.send(pixel(1, 1, 1, 1, 1))
  await collect(p, 1)
  srv.app.db.exec('CREATE TRIGGER fail BEFORE INSERT ON change_log BEGIN SELECT RAISE(ABORT, \'disk full\'); END')
  p.send(pixel(2, 2, 2, 2, 2))
  sync(p, 'after-failure')
  const synced = (await p.next(isSynced)).json
  // Messages that no waiter took are held in arrival order: the refusal came before synced.
  t.match(p.msgs.filter(isError('UNAVAILABLE')).map((m) => m.json), [{ code: 'UNAVAILABLE', message: /not applied/ }], 'refused first')
  t.same(p.msgs.filter(isUpdates), [], 'the refused pixel was never shown')
  t.same(synced, { type: 'synced', id: 'after-failure', seq: 1 }, 'seq: the last commit shown; the refused op is not in it')
  srv.app.db.exec('DROP TRIGGER fail')
})

t.test('a sync whose id nests too deep is a BAD_MESSAGE, like a ping', async (t) => {
  const srv = await listen(t, { ...SMALL, TICK_MS: '20', MAX_JSON_DEPTH: '4' })
  const c = new TestClient(srv.wsUrl, { token: token({ sub: 'v', role: 'viewer' }) })
  await ready(c)
  t.teardown(() => c.close())
  c.send('{"type":"sync","id":[[[[1]]]]}')
  await c.next(isError('BAD_MESSAGE'))
  c.send('{"type":"sync","id":[[1]]}')
  t.same((await c.next(isSynced)).json, { type: 'synced', id: [[1]], seq: 0 })
})
