// Two real clients on one canvas over real sockets: the core loop of the
// product (contract §2–4).
import t from 'tap'
import {
  listen, token, TestClient, isHello, isSnapshot, isUpdates, isError,
  parseSnapshot, parseUpdates, pixel, stroke, rect, collect
} from '../../helper.js'

t.test('two painters draw; everyone sees the same changes in the same order', async (t) => {
  const srv = await listen(t, { TICK_MS: '20' })
  const a = new TestClient(srv.wsUrl, { token: token({ sub: 'a', name: 'Ann' }) })
  const b = new TestClient(srv.wsUrl, { token: token({ sub: 'b' }) })
  await Promise.all([a.opened, b.opened])
  t.teardown(() => { a.close(); b.close() })

  const hello = (await a.next(isHello)).json
  t.match(hello, {
    type: 'hello',
    user: { id: 'a', name: 'Ann', role: 'painter' },
    canvas: { id: 'main', width: 1024, height: 1024, seq: 0 },
    resume: 'snapshot',
    heartbeatMs: 60000
  })
  t.type(hello.connectionId, 'number')
  t.type(hello.canvas.epoch, 'string')
  t.ok(hello.canvas.epoch.length >= 8, 'epoch is a random id')
  t.type(hello.limits.maxStrokePixels, 'number')
  const snapA = parseSnapshot((await a.next(isSnapshot)).bin as Buffer)
  t.equal(snapA.enc, 1, 'snapshot is zlib-deflated')
  t.equal(snapA.seq, 0)
  t.same(snapA.at(0, 0), [255, 255, 255], 'new canvas is white')
  t.equal(snapA.px.length, 1024 * 1024 * 3)
  await b.next(isHello)
  await b.next(isSnapshot)

  a.send(pixel(10, 20, 255, 0, 0))
  a.send(stroke([[11, 20, 0, 255, 0], [12, 20, 0, 0, 255], [11, 20, 1, 2, 3]]))
  a.send(rect(100, 200, 3, 2, 9, 8, 7))
  const want = [
    [10, 20, 255, 0, 0], [11, 20, 0, 255, 0], [12, 20, 0, 0, 255], [11, 20, 1, 2, 3],
    [100, 200, 9, 8, 7], [101, 200, 9, 8, 7], [102, 200, 9, 8, 7],
    [100, 201, 9, 8, 7], [101, 201, 9, 8, 7], [102, 201, 9, 8, 7]
  ]
  const [ga, gb] = await Promise.all([collect(a, 10), collect(b, 10)])
  t.same(ga.px, want, 'sender receives its changes in order')
  t.same(gb.px, want, 'the other painter receives the same changes in the same order')
  t.equal(ga.seq, 10, 'seq counts every pixel')
  t.same(gb.frames.map((f) => f.toString('hex')), ga.frames.map((f) => f.toString('hex')), 'identical frames')
  // every frame's seq is the seq after its last pixel
  let seq = 0
  for (const f of ga.frames) {
    const u = parseUpdates(f)
    seq += u.px.length
    t.equal(u.seq, seq)
  }

  // A late joiner gets a snapshot equal to what A and B hold.
  const c = new TestClient(srv.wsUrl, { token: token({ sub: 'c', role: 'viewer' }) })
  t.teardown(() => c.close())
  await c.opened
  const hc = (await c.next(isHello)).json
  t.equal(hc.canvas.seq, 10)
  const snapC = parseSnapshot((await c.next(isSnapshot)).bin as Buffer)
  t.equal(snapC.seq, 10)
  const expected = Buffer.from(snapA.px)
  for (const [x, y, r, g, bl] of want) expected.set([r, g, bl], (y * 1024 + x) * 3)
  t.ok(snapC.px.equals(expected), 'late snapshot = first snapshot + every UPDATES applied in order')
  t.same(snapC.at(11, 20), [1, 2, 3], 'last writer wins')

  // Viewer cannot draw; nothing is broadcast.
  c.send(pixel(1, 1, 1, 1, 1))
  const forbidden = (await c.next(isError('FORBIDDEN'))).json
  t.match(forbidden.message, /viewer/)
  t.ok(await a.nothing(isUpdates, 150), 'forbidden draw broadcasts nothing')
})

t.test('reconnect with since+epoch receives exactly the missed changes', async (t) => {
  const srv = await listen(t, { TICK_MS: '20' })
  const a = new TestClient(srv.wsUrl, { token: token({ sub: 'a' }) })
  t.teardown(() => a.close())
  await a.opened
  const { epoch } = (await a.next(isHello)).json.canvas
  await a.next(isSnapshot)
  a.send(stroke([[1, 1, 1, 1, 1], [2, 2, 2, 2, 2]]))
  const first = await collect(a, 2)
  t.equal(first.seq, 2)

  // B was at seq 2, left; A draws 3 more.
  a.send(stroke([[3, 3, 3, 3, 3], [4, 4, 4, 4, 4], [5, 5, 5, 5, 5]]))
  await collect(a, 3)

  const b = new TestClient(`${srv.wsUrl}?since=2&epoch=${epoch}`, { token: token({ sub: 'b' }) })
  t.teardown(() => b.close())
  await b.opened
  const hb = (await b.next(isHello)).json
  t.equal(hb.resume, 'replay')
  t.equal(hb.canvas.seq, 5)
  const got = await collect(b, 3)
  t.same(got.px, [[3, 3, 3, 3, 3], [4, 4, 4, 4, 4], [5, 5, 5, 5, 5]])
  t.equal(got.seq, 5)
  t.ok(await b.nothing(isSnapshot, 150), 'no snapshot with a replay')

  // Then it is live like everyone else.
  a.send(pixel(6, 6, 6, 6, 6))
  const live = await collect(b, 1)
  t.same(live.px, [[6, 6, 6, 6, 6]])
  t.equal(live.seq, 6)

  // Up to date: replay of nothing.
  const c = new TestClient(`${srv.wsUrl}?since=6&epoch=${epoch}`, { token: token({ sub: 'c' }) })
  t.teardown(() => c.close())
  await c.opened
  t.equal((await c.next(isHello)).json.resume, 'replay')
  t.ok(await c.nothing((m) => isUpdates(m) || isSnapshot(m), 150), 'nothing to replay')

  // Wrong epoch, a since from the future, or too far behind: a snapshot.
  for (const q of ['since=2&epoch=other', `since=99&epoch=${epoch}`, 'since=2']) {
    const d = new TestClient(`${srv.wsUrl}?${q}`, { token: token({ sub: 'd' }) })
    await d.opened
    t.equal((await d.next(isHello)).json.resume, 'snapshot', q)
    t.equal(parseSnapshot((await d.next(isSnapshot)).bin as Buffer).seq, 6, q)
    d.close()
  }
})

t.test('a resume further behind than MAX_REPLAY gets a snapshot', async (t) => {
  const srv = await listen(t, { TICK_MS: '20', MAX_REPLAY: '2' })
  const a = new TestClient(srv.wsUrl, { token: token({ sub: 'a' }) })
  t.teardown(() => a.close())
  await a.opened
  const { epoch } = (await a.next(isHello)).json.canvas
  // Wait for the snapshot first: drawn earlier, these 4 changes (> MAX_REPLAY)
  // would rightly reach `a` as a second snapshot instead of as UPDATES.
  await a.next(isSnapshot)
  a.send(rect(0, 0, 2, 2, 5, 5, 5))
  await collect(a, 4)
  const b = new TestClient(`${srv.wsUrl}?since=1&epoch=${epoch}`, { token: token({ sub: 'b' }) })
  t.teardown(() => b.close())
  await b.opened
  t.equal((await b.next(isHello)).json.resume, 'snapshot')
  t.equal(parseSnapshot((await b.next(isSnapshot)).bin as Buffer).seq, 4)
})
