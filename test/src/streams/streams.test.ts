// Named JSON streams with a real hub and fake clients: namespace rules,
// offsets that only grow, `since` replays, one string for every subscriber,
// and the least recently used idle stream evicted first.
import t from 'tap'
import type { Hub } from '../../../src/hub/hub.js'
import { createPipeline } from '../../../src/hub/fanout.js'
import { createMemoryBroker } from '../../../src/broker/memory.js'
import { canvasTopic, userTopic } from '../../../src/broker/broker.js'
import { createStreams, streamTopic, DEFAULT_NAMESPACES, type NamespaceRules, type StreamClient } from '../../../src/streams/streams.js'
import type { Role } from '../../../src/connection/connection.js'

class FakeClient implements StreamClient {
  closed = false
  /** what send returns: false is a full buffer */
  accepts = true
  sent: Array<{ data: string, must: boolean | undefined }> = []
  closes: Array<[number, string]> = []
  readonly user: { id: string, name: string, role: Role }
  constructor (readonly id: number, role: Role = 'painter', userId = `u${id}`) {
    this.user = { id: userId, name: userId, role }
  }

  send (data: string, must?: boolean): boolean { this.sent.push({ data, must }); return this.accepts }
  close (code: number, reason: string): void { this.closes.push([code, reason]); this.closed = true }
  get frames (): string[] { return this.sent.map((s) => s.data) }
}

/** A boot time in ms; offsets start at it in microseconds. */
const T0 = 1_700_000_000_000
const B = T0 * 1000

/** Streams over the in-memory broker (which holds offsets and history: maxStreams is its maxTopics) and a hub. */
function setup (over: { namespaces?: Record<string, NamespaceRules>, maxSubscriptions?: number, maxStreams?: number, clock?: { ms: number } } = {}) {
  const clock = over.clock ?? { ms: T0 }
  const pipeline = createPipeline<FakeClient>(createMemoryBroker({ maxTopics: over.maxStreams ?? 1000, now: () => clock.ms }))
  const { hub } = pipeline
  const slow: FakeClient[] = []
  const streams = createStreams<FakeClient>({
    ...pipeline,
    namespaces: over.namespaces ?? DEFAULT_NAMESPACES,
    maxSubscriptions: over.maxSubscriptions ?? 32,
    onSlow: (c) => { slow.push(c) },
    now: () => clock.ms
  })
  return { hub, broker: pipeline.broker, streams, clock, slow }
}

/** The ids of a stream's subscribers, as the hub delivers to them. */
function ids (hub: Hub<FakeClient>, stream: string): number[] {
  const seen: number[] = []
  hub.deliver(streamTopic(stream), null, { sendTo (c) { seen.push(c.id); return true } })
  return seen
}

/** The in-memory broker answers at once: a promise here is a regression. */
function now<T> (res: T | Promise<T>): T {
  if (res instanceof Promise) throw new Error('the in-memory broker answered with a promise')
  return res
}

const msg = (stream: string, offset: number, data: unknown) => JSON.stringify({ type: 'message', stream, offset, data })

const rules = (over: Partial<NamespaceRules> = {}): NamespaceRules => ({
  subscribe: ['viewer', 'painter', 'admin'], publish: ['viewer', 'painter', 'admin'], maxBytes: 1000, rate: 1000, burst: 1000, history: 3, historyMaxAge: 0, ...over
})

t.test('subscribe: unknown namespaces and malformed names are UNKNOWN_STREAM', async (t) => {
  const { streams, hub } = setup()
  const a = new FakeClient(1)
  for (const name of ['nope:x', 'chat', 'chat:', ':x', 'Chat:x', 'chat:a b', 'chat:x:y', '', 'constructor:x', 'chat:' + 'n'.repeat(65)]) {
    t.same(streams.subscribe(a, name), { ok: false, error: { code: 'UNKNOWN_STREAM', message: `no stream ${name}` } }, JSON.stringify(name))
  }
  t.equal(streams.rulesOf('constructor:x'), undefined, 'an Object.prototype key is no namespace')
  t.equal(streams.rulesOf('chat:' + 'n'.repeat(64)), DEFAULT_NAMESPACES.chat, 'the longest valid name')
  t.same([...hub.topicsOf(1)], [], 'nothing subscribed')
  t.same(streams.list(), [], 'no stream created')
  t.equal(streams.size, 0)
})

t.test('subscribe: a role not in `subscribe` is FORBIDDEN', async (t) => {
  const { streams, hub } = setup({ namespaces: { ops: rules({ subscribe: ['admin'] }) } })
  const v = new FakeClient(1, 'viewer')
  const p = new FakeClient(2, 'painter')
  const a = new FakeClient(3, 'admin')
  t.same(streams.subscribe(v, 'ops:x'), { ok: false, error: { code: 'FORBIDDEN', message: 'role viewer may not subscribe to ops:x' } })
  t.same(streams.subscribe(p, 'ops:x'), { ok: false, error: { code: 'FORBIDDEN', message: 'role painter may not subscribe to ops:x' } })
  t.same(streams.subscribe(a, 'ops:x'), { ok: true, offset: B, replay: [] })
  t.same(ids(hub, 'ops:x'), [3])
  t.same(streams.list(), [{ stream: 'ops:x', subscribers: 1, offset: B, held: 0 }])
})

t.test('subscribe: at most maxSubscriptions streams; canvases and re-subscribes do not count', async (t) => {
  const { streams, hub } = setup({ maxSubscriptions: 2 })
  const a = new FakeClient(1, 'viewer')
  hub.subscribe(a, 'canvas:main')
  hub.subscribe(a, 'canvas:other')
  t.same(streams.subscribe(a, 'chat:a'), { ok: true, offset: B, replay: [] })
  t.same(streams.subscribe(a, 'alerts:b'), { ok: true, offset: B, replay: [] })
  const over = { ok: false, error: { code: 'TOO_LARGE', message: 'at most 2 stream subscriptions' } }
  t.same(streams.subscribe(a, 'chat:c'), over)
  t.same(streams.subscribe(a, 'chat:c', B), over, 'with since too')
  t.same(streams.subscribe(a, 'chat:a'), { ok: true, offset: B, replay: [] }, 'one it already has is fine')
  t.equal(hub.count(streamTopic('chat:a')), 1, 'and is not subscribed twice')
  t.same([...hub.topicsOf(1)].sort(), ['canvas:main', 'canvas:other', streamTopic('alerts:b'), streamTopic('chat:a')])
  t.same(streams.list().map((s) => s.stream), ['alerts:b', 'chat:a'], 'the refused stream was not created')
  const b = new FakeClient(2, 'viewer')
  t.same(streams.subscribe(b, 'chat:c'), { ok: true, offset: B, replay: [] }, 'the cap is per connection')
  t.equal(streams.unsubscribe(a, 'alerts:b'), true)
  t.same(streams.subscribe(a, 'chat:c'), { ok: true, offset: B, replay: [] }, 'room again after leaving one')
})

t.test('offsets start at the boot time in microseconds and only grow', async (t) => {
  const { streams, clock } = setup()
  const a = new FakeClient(1)
  clock.ms += 5000
  t.same(streams.subscribe(a, 'chat:x'), { ok: true, offset: B, replay: [] }, 'the boot time, not the first use')
  t.same(streams.publish(a, 'chat:x', 'one'), { offset: B + 1, delivered: 1 })
  clock.ms -= 60_000 // the clock going back changes nothing
  t.same(streams.publishAsAdmin('chat:x', 'two'), { offset: B + 2, delivered: 1 })
  t.same(streams.publishAsAdmin('chat:y', 'other'), { offset: B + 1, delivered: 0 }, 'each stream counts on its own')
  t.same(streams.subscribe(a, 'chat:x'), { ok: true, offset: B + 2, replay: [] }, 'subscribe answers the current offset')
  t.same(a.frames, [msg('chat:x', B + 1, 'one'), msg('chat:x', B + 2, 'two')])
})

t.test('without an injected clock, offsets start at the real boot time', async (t) => {
  const before = Date.now() * 1000
  const streams = createStreams<FakeClient>({ ...createPipeline<FakeClient>(createMemoryBroker({ maxTopics: 1 })), namespaces: DEFAULT_NAMESPACES, maxSubscriptions: 1, onSlow () {} })
  const after = Date.now() * 1000
  const res = now(streams.subscribe(new FakeClient(1), 'chat:x'))
  t.ok(res.ok && res.offset >= before && res.offset <= after && res.offset % 1000 === 0, 'a whole millisecond in microseconds, at creation')
  t.same(streams.publish(new FakeClient(2), 'chat:x', 1), { offset: (res.ok ? res.offset : 0) + 1, delivered: 1 })
})

t.test('since: exactly the held messages after it, the very strings delivered', async (t) => {
  const { streams } = setup({ namespaces: { room: rules({ history: 3 }) } })
  const a = new FakeClient(1)
  streams.subscribe(a, 'room:x')
  t.same(streams.subscribe(new FakeClient(9), 'room:x', B), { ok: true, offset: B, replay: [], recovered: true }, 'nothing published, nothing missed')
  t.same(streams.subscribe(new FakeClient(9), 'room:x', B - 1), { ok: true, offset: B, replay: [], recovered: false }, 'from before this boot')
  for (let i = 1; i <= 3; i++) streams.publish(a, 'room:x', { i })
  t.same(streams.subscribe(new FakeClient(2), 'room:x', B), { ok: true, offset: B + 3, replay: a.frames, recovered: true }, 'all three are still held')
  for (let i = 4; i <= 5; i++) streams.publish(a, 'room:x', { i })
  t.equal(a.sent.length, 5)
  const d = a.frames
  t.same(d[4], msg('room:x', B + 5, { i: 5 }))
  t.same(streams.subscribe(new FakeClient(3), 'room:x', B + 2), { ok: true, offset: B + 5, replay: [d[2], d[3], d[4]], recovered: true }, 'the oldest held is the next one')
  t.same(streams.subscribe(new FakeClient(4), 'room:x', B + 3), { ok: true, offset: B + 5, replay: [d[3], d[4]], recovered: true })
  t.same(streams.subscribe(new FakeClient(5), 'room:x', B + 4), { ok: true, offset: B + 5, replay: [d[4]], recovered: true })
  t.same(streams.subscribe(new FakeClient(6), 'room:x', B + 5), { ok: true, offset: B + 5, replay: [], recovered: true }, 'up to date')
  t.same(streams.subscribe(new FakeClient(7), 'room:x', B + 1), { ok: true, offset: B + 5, replay: [], recovered: false }, 'one message was dropped: none replayed')
  t.same(streams.subscribe(new FakeClient(8), 'room:x', 0), { ok: true, offset: B + 5, replay: [], recovered: false })
  t.same(streams.subscribe(new FakeClient(10), 'room:x', B + 6), { ok: true, offset: B + 5, replay: [], recovered: false }, 'ahead of the stream')
  t.same(streams.subscribe(new FakeClient(11), 'room:x', Number.MAX_SAFE_INTEGER), { ok: true, offset: B + 5, replay: [], recovered: false }, 'garbage')
  t.same(streams.list(), [{ stream: 'room:x', subscribers: 11, offset: B + 5, held: 3 }], 'history keeps the last 3')
  t.same(streams.subscribe(a, 'room:x', B + 2), { ok: true, offset: B + 5, replay: [d[2], d[3], d[4]], recovered: true }, 'a subscriber may ask again')
})

t.test('since: history is per namespace', async (t) => {
  const { streams } = setup({ namespaces: { one: rules({ history: 1 }), many: rules({ history: 4 }) } })
  for (let i = 1; i <= 5; i++) {
    streams.publishAsAdmin('one:x', i)
    streams.publishAsAdmin('many:x', i)
  }
  t.same(streams.list(), [{ stream: 'many:x', subscribers: 0, offset: B + 5, held: 4 }, { stream: 'one:x', subscribers: 0, offset: B + 5, held: 1 }])
  t.same(streams.subscribe(new FakeClient(1), 'one:x', B + 4), { ok: true, offset: B + 5, replay: [msg('one:x', B + 5, 5)], recovered: true })
  t.same(streams.subscribe(new FakeClient(2), 'one:x', B + 3), { ok: true, offset: B + 5, replay: [], recovered: false })
  t.same(streams.subscribe(new FakeClient(3), 'many:x', B + 1), { ok: true, offset: B + 5, replay: [2, 3, 4, 5].map((i) => msg('many:x', B + i, i)), recovered: true })
  t.same(streams.subscribe(new FakeClient(4), 'many:x', B), { ok: true, offset: B + 5, replay: [], recovered: false })
})

t.test('a later boot starts above every offset of an earlier one', async (t) => {
  const first = setup()
  for (let i = 0; i < 3; i++) first.streams.publishAsAdmin('chat:x', i)
  const last = B + 3
  const second = setup({ clock: { ms: T0 + 1 } })
  t.same(second.streams.subscribe(new FakeClient(1), 'chat:x', last), { ok: true, offset: B + 1000, replay: [], recovered: false })
  second.streams.publishAsAdmin('chat:x', 'new')
  t.same(second.streams.subscribe(new FakeClient(2), 'chat:x', last), { ok: true, offset: B + 1001, replay: [], recovered: false }, 'never a wrong replay')
})

t.test('publish: rules of the namespace, size cap, per-user rate', async (t) => {
  const { streams, clock } = setup()
  const v = new FakeClient(1, 'viewer')
  const p = new FakeClient(2, 'painter')
  const a = new FakeClient(3, 'admin')
  t.same(streams.publish(v, 'chat:x', 'hi'), { code: 'FORBIDDEN', message: 'role viewer may not publish to chat:x' })
  for (const c of [v, p, a]) t.same(streams.publish(c, 'alerts:x', 'hi'), { code: 'FORBIDDEN', message: `role ${c.user.role} may not publish to alerts:x` }, `alerts: not even ${c.user.role}`)
  t.same(streams.publish(p, 'nope:x', 'hi'), { code: 'UNKNOWN_STREAM', message: 'no stream nope:x' })
  t.same(streams.publish(p, 'constructor:x', 'hi'), { code: 'UNKNOWN_STREAM', message: 'no stream constructor:x' })
  t.same(streams.publish(p, 'chat', 'hi'), { code: 'UNKNOWN_STREAM', message: 'no stream chat' })
  t.same(streams.list(), [], 'refusals create no stream')

  t.same(streams.publish(p, 'chat:x', 'x'.repeat(1023)), { code: 'TOO_LARGE', message: 'message is 1025 bytes, at most 1024' })
  t.same(streams.publish(p, 'chat:x', 'é'.repeat(512)), { code: 'TOO_LARGE', message: 'message is 1026 bytes, at most 1024' }, 'bytes, not characters')
  t.same(streams.publish(p, 'chat:x', 'x'.repeat(1022)), { offset: B + 1, delivered: 0 }, 'exactly the cap')
  t.same(streams.publish(p, 'chat:x', { k: 'é'.repeat(505) }), { offset: B + 2, delivered: 0 }, '{"k":"…"} is 1018 bytes')

  // chat: burst 5 at 2 per second; the size refusals took no token
  for (let i = 0; i < 3; i++) t.same(streams.publish(p, 'chat:y', i), { offset: B + 1 + i, delivered: 0 })
  t.same(streams.publish(p, 'chat:x', 'six'), { code: 'RATE_LIMITED', message: 'publishing to chat:x too fast', retryAfterMs: 500 }, 'one bucket per user across the namespace')
  t.same(streams.publish(new FakeClient(4, 'painter', p.user.id), 'chat:x', 'six'), { code: 'RATE_LIMITED', message: 'publishing to chat:x too fast', retryAfterMs: 500 }, 'shared by the user\'s connections')
  t.same(streams.publish(a, 'chat:x', 'other user'), { offset: B + 3, delivered: 0 })
  clock.ms += 200
  t.same(streams.publish(p, 'chat:x', 'six'), { code: 'RATE_LIMITED', message: 'publishing to chat:x too fast', retryAfterMs: 300 })
  clock.ms += 300
  t.same(streams.publish(p, 'chat:x', 'six'), { offset: B + 4, delivered: 0 }, 'one token back after 500 ms')
  t.same(streams.publish(p, 'chat:x', 'seven'), { code: 'RATE_LIMITED', message: 'publishing to chat:x too fast', retryAfterMs: 500 })
  t.same(streams.list(), [{ stream: 'chat:x', subscribers: 0, offset: B + 4, held: 4 }, { stream: 'chat:y', subscribers: 0, offset: B + 3, held: 3 }])
})

t.test('sweep forgets only buckets that are full again', async (t) => {
  const { streams, clock } = setup()
  const p = new FakeClient(1)
  for (let i = 0; i < 5; i++) streams.publish(p, 'chat:x', i)
  t.match(streams.publish(p, 'chat:x', 'no'), { code: 'RATE_LIMITED', retryAfterMs: 500 })
  clock.ms += 1000
  streams.sweep()
  t.same(streams.publish(p, 'chat:x', 'a'), { offset: B + 6, delivered: 0 })
  t.same(streams.publish(p, 'chat:x', 'b'), { offset: B + 7, delivered: 0 })
  t.match(streams.publish(p, 'chat:x', 'no'), { code: 'RATE_LIMITED', retryAfterMs: 500 }, 'a partly refilled bucket was kept')
  clock.ms += 2500
  streams.sweep()
  for (let i = 0; i < 5; i++) t.same(streams.publish(p, 'chat:x', i), { offset: B + 8 + i, delivered: 0 })
  t.match(streams.publish(p, 'chat:x', 'no'), { code: 'RATE_LIMITED', retryAfterMs: 500 })
})

t.test('publish: one string for every subscriber, must-send; slow ones reported once', async (t) => {
  const { streams, hub, slow } = setup()
  const [a, b, c, d] = [1, 2, 3, 4].map((id) => new FakeClient(id))
  for (const x of [a, b, c]) streams.subscribe(x, 'chat:x')
  streams.subscribe(d, 'chat:other')
  hub.subscribe(d, 'canvas:main')
  b.accepts = false
  const data = { text: 'hi', n: [1, 2], u: 'ü' }
  t.same(streams.publish(a, 'chat:x', data), { offset: B + 1, delivered: 2 }, 'the slow one is not counted')
  const frame = msg('chat:x', B + 1, data)
  t.equal(frame, `{"type":"message","stream":"chat:x","offset":${B + 1},"data":{"text":"hi","n":[1,2],"u":"ü"}}`)
  for (const x of [a, b, c]) t.same(x.sent, [{ data: frame, must: true }], `client ${x.id}`)
  t.same(d.sent, [], 'other streams and canvases hear nothing')
  t.equal(slow.length, 1)
  t.equal(slow[0], b, 'onSlow got the client')

  b.accepts = true
  t.same(streams.publishAsAdmin('chat:x', 2), { offset: B + 2, delivered: 3 })
  t.equal(slow.length, 1, 'nothing slow')

  b.accepts = false
  b.closed = true // closed, cleanup not yet run
  t.same(streams.publishAsAdmin('chat:x', 3), { offset: B + 3, delivered: 2 })
  t.equal(slow.length, 1, 'a closed client is not reported slow')
  hub.unsubscribeAll(b)
  t.same(streams.publishAsAdmin('chat:x', 4), { offset: B + 4, delivered: 2 })
  t.equal(b.sent.length, 3, 'nothing after cleanup')
  t.equal(now(streams.subscribe(b, 'chat:x')).ok, true, 'a closed client can ask...')
  t.equal(hub.count(streamTopic('chat:x')), 2, '...but the hub never holds it')
})

t.test('onSlow may drop the client from the hub mid-delivery; the rest still get it', async (t) => {
  const pipeline = createPipeline<FakeClient>(createMemoryBroker({ maxTopics: 8, now: () => T0 }))
  const { hub } = pipeline
  const streams = createStreams<FakeClient>({
    ...pipeline,
    namespaces: DEFAULT_NAMESPACES,
    maxSubscriptions: 8,
    onSlow: (c) => { c.close(4008, 'slow consumer'); hub.unsubscribeAll(c) },
    now: () => T0
  })
  const cs = [1, 2, 3, 4].map((id) => new FakeClient(id))
  for (const c of cs) streams.subscribe(c, 'alerts:x')
  cs[0].accepts = false
  cs[2].accepts = false
  t.same(streams.publishAsAdmin('alerts:x', 'x'), { offset: B + 1, delivered: 2 })
  t.same(cs.map((c) => c.sent.length), [1, 1, 1, 1], 'everyone was sent it once')
  t.same(cs.map((c) => c.closes), [[[4008, 'slow consumer']], [], [[4008, 'slow consumer']], []])
  t.same(ids(hub, 'alerts:x'), [2, 4])
})

t.test('publishAsAdmin: no role, size or rate rule, but the stream must exist', async (t) => {
  const { streams } = setup()
  const a = new FakeClient(1, 'viewer')
  streams.subscribe(a, 'alerts:ops')
  const big = 'x'.repeat(10_000)
  t.same(streams.publishAsAdmin('alerts:ops', big), { offset: B + 1, delivered: 1 }, 'over alerts maxBytes')
  for (let i = 2; i <= 40; i++) t.same(streams.publishAsAdmin('alerts:ops', i), { offset: B + i, delivered: 1 })
  t.equal(a.sent.length, 40, 'beyond any burst')
  t.same(a.sent[0], { data: msg('alerts:ops', B + 1, big), must: true })
  t.same(streams.publishAsAdmin('nope:x', 1), { code: 'UNKNOWN_STREAM', message: 'no stream nope:x' })
  t.same(streams.publishAsAdmin('constructor:x', 1), { code: 'UNKNOWN_STREAM', message: 'no stream constructor:x' })
  t.same(streams.publishAsAdmin('alerts', 1), { code: 'UNKNOWN_STREAM', message: 'no stream alerts' })
  t.same(streams.list().map((s) => s.stream), ['alerts:ops'])
})

t.test('list: every stream, sorted, with subscribers, offset and held count', async (t) => {
  const { streams, hub } = setup()
  const [a, b] = [1, 2].map((id) => new FakeClient(id))
  streams.subscribe(a, 'chat:zeta')
  streams.subscribe(b, 'chat:zeta')
  streams.subscribe(a, 'alerts:ops')
  streams.publishAsAdmin('chat:alpha', 1)
  streams.publishAsAdmin('chat:alpha', 2)
  streams.publishAsAdmin('alerts:ops', 1)
  t.same(streams.list(), [
    { stream: 'alerts:ops', subscribers: 1, offset: B + 1, held: 1 },
    { stream: 'chat:alpha', subscribers: 0, offset: B + 2, held: 2 },
    { stream: 'chat:zeta', subscribers: 2, offset: B, held: 0 }
  ])
  t.equal(streams.size, 3)
  hub.unsubscribeAll(a)
  t.same(streams.list().map((s) => [s.stream, s.subscribers]), [['alerts:ops', 0], ['chat:alpha', 0], ['chat:zeta', 1]], 'kept after everyone left')
})

t.test('maxStreams: the least recently used idle stream goes, never one with subscribers', async (t) => {
  const { streams } = setup({ maxStreams: 3 })
  const a = new FakeClient(1)
  streams.subscribe(a, 'chat:a') // oldest, but subscribed
  streams.publishAsAdmin('chat:b', 1)
  streams.publishAsAdmin('chat:c', 1)
  streams.publishAsAdmin('chat:b', 2) // b is now more recent than c
  streams.publishAsAdmin('chat:d', 1)
  t.same(streams.list().map((s) => s.stream), ['chat:a', 'chat:b', 'chat:d'], 'c went: a has a subscriber, b was used since')
  streams.subscribe(new FakeClient(2), 'chat:b') // touches b too
  streams.subscribe(new FakeClient(3), 'chat:e')
  t.same(streams.list().map((s) => s.stream), ['chat:a', 'chat:b', 'chat:e'], 'd went')
  t.equal(streams.size, 3)
})

t.test('maxStreams: when every other stream is subscribed, the stream in use is not the one dropped', async (t) => {
  const { streams } = setup({ maxStreams: 2 })
  streams.subscribe(new FakeClient(1), 'chat:a')
  streams.subscribe(new FakeClient(2), 'chat:b')
  t.same(streams.publishAsAdmin('chat:c', 1), { offset: B + 1, delivered: 0 })
  t.same(streams.publishAsAdmin('chat:c', 2), { offset: B + 2, delivered: 0 }, 'its offset still grows')
  t.same(streams.list(), [
    { stream: 'chat:a', subscribers: 1, offset: B, held: 0 },
    { stream: 'chat:b', subscribers: 1, offset: B, held: 0 },
    { stream: 'chat:c', subscribers: 0, offset: B + 2, held: 2 }
  ], 'over the bound rather than dropping a stream in use')
  const d = new FakeClient(4)
  t.same(streams.subscribe(d, 'chat:d', B), { ok: true, offset: B, replay: [], recovered: true })
  t.same(streams.list().map((s) => [s.stream, s.subscribers]), [['chat:a', 1], ['chat:b', 1], ['chat:d', 1]], 'the idle c went for d')
  t.same(streams.publishAsAdmin('chat:d', 'x'), { offset: B + 1, delivered: 1 })
  t.same(d.frames, [msg('chat:d', B + 1, 'x')])
})

t.test('an evicted stream that comes back never reuses an offset', async (t) => {
  const { streams } = setup({ maxStreams: 1 })
  for (let i = 1; i <= 3; i++) t.same(streams.publishAsAdmin('chat:a', i), { offset: B + i, delivered: 0 })
  streams.publishAsAdmin('chat:b', 1) // evicts a
  t.same(streams.list().map((s) => s.stream), ['chat:b'])
  const seen = new FakeClient(1)
  t.same(streams.subscribe(seen, 'chat:a', B + 3), { ok: true, offset: B + 3, replay: [], recovered: true }, 'up to date: nothing missed')
  t.same(streams.subscribe(new FakeClient(2), 'chat:a', B + 1), { ok: true, offset: B + 3, replay: [], recovered: false }, 'the rest is gone')
  for (let i = 4; i <= 6; i++) t.same(streams.publishAsAdmin('chat:a', i), { offset: B + i, delivered: 2 })
  t.same(seen.frames, [4, 5, 6].map((i) => msg('chat:a', B + i, i)))
  t.same(streams.subscribe(new FakeClient(3), 'chat:a', B + 2), { ok: true, offset: B + 6, replay: [], recovered: false }, 'never the new messages under old offsets')
})

t.test('unsubscribe says whether it changed anything; unsubscribed clients get nothing', async (t) => {
  const { streams, hub } = setup()
  const [a, b] = [1, 2].map((id) => new FakeClient(id))
  streams.subscribe(a, 'chat:x')
  streams.subscribe(a, 'chat:y')
  streams.subscribe(b, 'chat:x')
  t.equal(streams.unsubscribe(a, 'chat:x'), true)
  t.equal(streams.unsubscribe(a, 'chat:x'), false, 'already left')
  t.equal(streams.unsubscribe(a, 'chat:never'), false)
  t.equal(streams.unsubscribe(a, 'bogus'), false)
  t.same(streams.publishAsAdmin('chat:x', 1), { offset: B + 1, delivered: 1 })
  t.same(a.sent, [])
  t.same(b.frames, [msg('chat:x', B + 1, 1)])
  t.same(hub.unsubscribeAll(a), [streamTopic('chat:y')])
  t.same(streams.publishAsAdmin('chat:y', 1), { offset: B + 1, delivered: 0 })
  t.same(a.sent, [], 'nothing after unsubscribeAll')
  t.same(hub.size(), { topics: 1, connections: 1 })
})

t.test('custom namespaces: viewers may publish where the rules say so', async (t) => {
  const namespaces = { ...DEFAULT_NAMESPACES, lobby: rules({ publish: ['viewer'], maxBytes: 10, rate: 1, burst: 1, history: 2 }) }
  const { streams } = setup({ namespaces })
  const v = new FakeClient(1, 'viewer')
  const p = new FakeClient(2, 'painter')
  streams.subscribe(p, 'lobby:main')
  t.same(streams.publish(v, 'lobby:main', 'hello'), { offset: B + 1, delivered: 1 })
  t.same(p.sent, [{ data: msg('lobby:main', B + 1, 'hello'), must: true }])
  t.same(streams.publish(p, 'lobby:main', 'hi'), { code: 'FORBIDDEN', message: 'role painter may not publish to lobby:main' })
  t.same(streams.publish(v, 'lobby:main', 'x'.repeat(9)), { code: 'TOO_LARGE', message: 'message is 11 bytes, at most 10' })
  t.same(streams.publish(v, 'lobby:main', 'again'), { code: 'RATE_LIMITED', message: 'publishing to lobby:main too fast', retryAfterMs: 1000 })
  t.same(streams.publish(v, 'chat:main', 'hi'), { code: 'FORBIDDEN', message: 'role viewer may not publish to chat:main' }, 'the defaults still apply')
  t.equal(streams.rulesOf('lobby:x'), namespaces.lobby)
})

t.test('a namespace named like another topic (user, canvas) stays a stream: no reach into users or canvases', async (t) => {
  const { streams, hub, broker } = setup({ namespaces: { user: rules(), canvas: rules() } })
  const s = new FakeClient(1)
  t.equal(now(streams.subscribe(s, 'user:alice')).ok, true)
  t.equal(now(streams.subscribe(s, 'canvas:main')).ok, true)
  t.equal(hub.count(userTopic('alice')), 0, 'not on alice\'s user topic')
  t.equal(hub.count(canvasTopic('main')), 0, 'not on the canvas')
  t.same(broker.publish(userTopic('alice'), { type: 'broadcast', user: 'alice', data: 1 }), { offset: 0, delivered: 0 }, 'a user broadcast does not reach the stream')
  t.same(streams.publishAsAdmin('user:alice', 'x'), { offset: B + 1, delivered: 1 })
  t.same(s.frames, [msg('user:alice', B + 1, 'x')], 'only the stream message')
})
