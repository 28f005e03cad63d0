// Streams, presence and cursors over real sockets (contract §5).
import t from 'tap'
import { listen, token, TestClient, isHello, isSnapshot, isError, isType, joinClient as join, type Msg } from '../../helper.js'

const isCursors = (m: Msg) => m.bin?.[0] === 0x12

t.test('chat: subscribe, publish, every subscriber gets the same message with a growing offset', async (t) => {
  const srv = await listen(t)
  const { c: a } = await join(srv, { sub: 'a', name: 'Ann' })
  const { c: b } = await join(srv, { sub: 'b', role: 'viewer' })
  t.teardown(() => { a.close(); b.close() })
  a.send(JSON.stringify({ type: 'subscribe', stream: 'chat:lobby' }))
  b.send(JSON.stringify({ type: 'subscribe', stream: 'chat:lobby' }))
  const subA = (await a.next(isType('subscribed'))).json
  const subB = (await b.next(isType('subscribed'))).json
  t.match(subA, { type: 'subscribed', stream: 'chat:lobby', offset: Number })
  t.equal(subB.offset, subA.offset)
  t.notOk('recovered' in subA, 'no recovered flag without since')

  a.send(JSON.stringify({ type: 'publish', stream: 'chat:lobby', data: { text: 'hi', n: [1, 2] } }))
  const ack = (await a.next(isType('published'))).json
  t.same(ack, { type: 'published', stream: 'chat:lobby', offset: subA.offset + 1 })
  const ma = (await a.next(isType('message'))).json
  const mb = (await b.next(isType('message'))).json
  t.same(ma, { type: 'message', stream: 'chat:lobby', offset: subA.offset + 1, data: { text: 'hi', n: [1, 2] } })
  t.same(mb, ma)

  b.send(JSON.stringify({ type: 'publish', stream: 'chat:lobby', data: 'x' }))
  t.match((await b.next(isError('FORBIDDEN'))).json.message, /viewer may not publish/)
  a.send(JSON.stringify({ type: 'publish', stream: 'alerts:ops', data: 'x' }))
  t.match((await a.next(isError('FORBIDDEN'))).json.message, /may not publish to alerts:ops/, 'alerts are published through REST only')
  a.send(JSON.stringify({ type: 'subscribe', stream: 'nope:x' }))
  t.ok(await a.next(isError('UNKNOWN_STREAM')))
  a.send(JSON.stringify({ type: 'publish', stream: 'chat:lobby', data: 'y'.repeat(2000) }))
  t.match((await a.next(isError('TOO_LARGE'))).json.message, /at most 1024/)

  b.send(JSON.stringify({ type: 'unsubscribe', stream: 'chat:lobby' }))
  t.same((await b.next(isType('unsubscribed'))).json, { type: 'unsubscribed', stream: 'chat:lobby' })
  a.send(JSON.stringify({ type: 'publish', stream: 'chat:lobby', data: 'after' }))
  await a.next(isType('message'))
  t.ok(await b.nothing(isType('message'), 200), 'an unsubscribed client gets nothing')
})

t.test('subscribe with since replays what is held, or says it cannot', async (t) => {
  const srv = await listen(t)
  const { c: a } = await join(srv, { sub: 'a' })
  t.teardown(() => a.close())
  a.send(JSON.stringify({ type: 'subscribe', stream: 'chat:r' }))
  const start = (await a.next(isType('subscribed'))).json.offset
  for (let i = 0; i < 3; i++) {
    a.send(JSON.stringify({ type: 'publish', stream: 'chat:r', data: i }))
    await a.next(isType('message'))
  }
  const { c: b } = await join(srv, { sub: 'b' })
  t.teardown(() => b.close())
  b.send(JSON.stringify({ type: 'subscribe', stream: 'chat:r', since: start + 1 }))
  t.same((await b.next(isType('subscribed'))).json, { type: 'subscribed', stream: 'chat:r', offset: start + 3, recovered: true })
  t.same((await b.next(isType('message'))).json, { type: 'message', stream: 'chat:r', offset: start + 2, data: 1 })
  t.same((await b.next(isType('message'))).json, { type: 'message', stream: 'chat:r', offset: start + 3, data: 2 })
  const { c: d } = await join(srv, { sub: 'd' })
  t.teardown(() => d.close())
  d.send(JSON.stringify({ type: 'subscribe', stream: 'chat:r', since: 5 }))
  t.same((await d.next(isType('subscribed'))).json, { type: 'subscribed', stream: 'chat:r', offset: start + 3, recovered: false }, 'a since from another boot')
  t.ok(await d.nothing(isType('message'), 150), 'never a partial replay')
})

t.test('presence: the roster after the canvas, then joins and leaves batched every PRESENCE_MS', async (t) => {
  const srv = await listen(t, { TICK_MS: '20', PRESENCE_MS: '500' })
  const a = new TestClient(srv.wsUrl, { token: token({ sub: 'a', name: 'Ann' }) })
  const order: string[] = []
  a.ws.on('message', (d: Buffer, bin: boolean) => order.push(bin ? `0x${d[0].toString(16)}` : JSON.parse(d.toString()).type))
  await a.opened
  const aId = (await a.next(isHello)).json.connectionId
  await a.next(isSnapshot)
  const roster = (await a.next(isType('presence'))).json
  t.same(roster, { type: 'presence', canvas: 'main', joined: [{ connectionId: aId, name: 'Ann' }], left: [], count: 1 })
  t.same(order.slice(0, 3), ['hello', '0x10', 'presence'], 'hello, then the snapshot, then the roster')
  const { c: b, id: bId } = await join(srv, { sub: 'b', name: 'Bob' })
  const bRoster = (await b.next(isType('presence'))).json
  t.equal(bRoster.count, 2)
  t.same(bRoster.joined.map((j: { name: string }) => j.name).sort(), ['Ann', 'Bob'])
  // a may first hear of its own join (when it got its roster within that tick).
  const names = (m: Msg) => m.json?.type === 'presence' && m.json.joined.some((j: { connectionId: number }) => j.connectionId === bId)
  const heard = (await a.next(names)).json
  const heardAt = performance.now()
  t.same([heard.canvas, heard.left, heard.count], ['main', [], 2])
  t.same(heard.joined.find((j: { connectionId: number }) => j.connectionId === bId), { connectionId: bId, name: 'Bob' }, 'a hears of b even when both joined within one batch')
  b.close()
  const leaves = (m: Msg) => m.json?.type === 'presence' && m.json.left.length > 0
  t.same((await a.next(leaves)).json, { type: 'presence', canvas: 'main', joined: [], left: [bId], count: 1 })
  // b left at once, but the leave waits for the next batch (100 ms of slack for delivery jitter)
  t.ok(performance.now() - heardAt >= 400, `the leave came ${(performance.now() - heardAt).toFixed(0)} ms after the join, not before the next batch`)
  a.close()
})

t.test('cursors: relayed as CURSORS at most once per tick per connection, never from viewers', async (t) => {
  const srv = await listen(t, { TICK_MS: '50' })
  const { c: a, id: aId } = await join(srv, { sub: 'a' })
  const { c: v } = await join(srv, { sub: 'v', role: 'viewer' })
  t.teardown(() => { a.close(); v.close() })
  const cursor = (x: number, y: number) => { const m = Buffer.alloc(5); m[0] = 3; m.writeUInt16BE(x, 1); m.writeUInt16BE(y, 3); return m }
  for (let i = 0; i < 10; i++) a.send(cursor(i, 2 * i))
  v.send(cursor(7, 7))
  const f = (await v.next(isCursors)).bin as Buffer
  t.equal(f.readUInt16BE(1), 1, 'one entry: the painter, once')
  t.same([f.readUInt32BE(3), f.readUInt16BE(7), f.readUInt16BE(9)], [aId, 9, 18], 'its last position')
  t.equal(f.length, 3 + 8)
  t.ok(await v.nothing(isCursors, 150), 'nothing more when nothing moved')
  a.send(cursor(5000, 1))
  t.ok(await a.next(isError('OUT_OF_BOUNDS')))
  t.equal(srv.app.canvasStore.get('main')?.seq, 0, 'cursors are never persisted')
})

t.test('subscribe with last: the newest N held; bad or too large last is refused', async (t) => {
  const srv = await listen(t, { STREAM_LAST_MAX: '3' })
  const p = new TestClient(srv.wsUrl, { token: token({ sub: 'p' }) })
  await p.opened
  for (const data of [1, 2, 3, 4]) {
    p.send(JSON.stringify({ type: 'publish', stream: 'chat:last', data }))
    await p.next(isType('published'))
  }
  const v = new TestClient(srv.wsUrl, { token: token({ sub: 'v', role: 'viewer' }) })
  await v.opened
  v.send(JSON.stringify({ type: 'subscribe', stream: 'chat:last', last: 2 }))
  const sub = (await v.next(isType('subscribed'))).json
  const got = [(await v.next(isType('message'))).json, (await v.next(isType('message'))).json]
  t.same(got.map((m) => m.data), [3, 4], 'the newest two, oldest first')
  t.equal(got[1].offset, sub.offset, 'the last one is the stream offset')
  v.send(JSON.stringify({ type: 'subscribe', stream: 'chat:other', last: 0 }))
  t.match((await v.next(isType('subscribed'))).json, { stream: 'chat:other' }, 'last 0: just subscribe')
  for (const [bad, code] of [
    [{ last: 4 }, 'TOO_LARGE'],
    [{ last: -1 }, 'BAD_MESSAGE'],
    [{ last: 1.5 }, 'BAD_MESSAGE'],
    [{ last: '2' }, 'BAD_MESSAGE'],
    [{ last: 1, since: 1 }, 'BAD_MESSAGE']
  ] as const) {
    v.send(JSON.stringify({ type: 'subscribe', stream: 'chat:last', ...bad }))
    t.match((await v.next(isType('error'))).json, { code }, `${JSON.stringify(bad)}: ${code}`)
  }
  p.close(); v.close()
})
