// Presence with a real hub and fake clients: joins, leaves and rosters
// batched per presence flush (every flush here, unless an interval is set),
// and one CURSORS frame per canvas per tick.
import t from 'tap'
import { createPresence, type PresenceClient } from '../../../src/canvas/presence.js'
import { canvasTopic } from '../../../src/broker/broker.js'
import { createMemoryBroker } from '../../../src/broker/memory.js'
import { createPipeline } from '../../../src/hub/fanout.js'

class FakeClient implements PresenceClient {
  closed = false
  sent: Array<Buffer | string> = []
  readonly user: { name: string }
  constructor (readonly id: number, name: string, readonly canvasId = 'main') { this.user = { name } }
  send (data: Buffer | string): boolean { this.sent.push(data); return true }
  get texts (): string[] { return this.sent.filter((d): d is string => typeof d === 'string') }
  get cursors (): Buffer[] { return this.sent.filter((d): d is Buffer => Buffer.isBuffer(d)) }
}

function setup (maxList = 100, intervalMs = 0, now?: () => number) {
  const pipeline = createPipeline<FakeClient>(createMemoryBroker())
  const { hub, broker } = pipeline
  const presence = createPresence<FakeClient>({ ...pipeline, maxList, intervalMs, now })
  /** As the canvas service and the route do: subscribe to the canvas, then queue the join. */
  const enter = (c: FakeClient) => { hub.subscribe(c, canvasTopic(c.canvasId)); presence.join(c) }
  /** As cleanup does: leave the hub, then queue the leave. */
  const exit = (c: FakeClient) => { hub.unsubscribeAll(c); presence.leave(c) }
  /** Enter, get the roster (the canvas service's onSynced) and flush, then forget what was sent. */
  const settle = (...cs: FakeClient[]) => {
    for (const c of cs) enter(c)
    for (const c of cs) presence.sendRoster(c)
    presence.flush()
    for (const c of cs) c.sent.length = 0
  }
  return { hub, broker, presence, enter, exit, settle }
}

type Entry = [id: number, x: number, y: number]

const event = (canvas: string, joined: Array<[number, string]>, left: number[], count: number) =>
  JSON.stringify({ type: 'presence', canvas, joined: joined.map(([connectionId, name]) => ({ connectionId, name })), left, count })

/** The CURSORS frame written out by hand: op 0x12, u16 count, then u32 id, u16 x, u16 y each. */
function cursorsFrame (entries: Entry[]): Buffer {
  const bytes = [0x12, entries.length >> 8, entries.length & 0xff]
  for (const [id, x, y] of entries) bytes.push(id >>> 24, (id >> 16) & 0xff, (id >> 8) & 0xff, id & 0xff, x >> 8, x & 0xff, y >> 8, y & 0xff)
  return Buffer.from(bytes)
}

t.test('a join is told to the others at the next flush; the newcomer gets the roster instead', async (t) => {
  const { presence, enter } = setup()
  const ann = new FakeClient(1, 'Ann')
  const bob = new FakeClient(2, 'Bob')
  enter(ann)
  presence.flush()
  t.same(ann.sent, [], 'no event before its roster')
  presence.sendRoster(ann)
  t.same(ann.sent, [], 'the roster waits for the flush')
  presence.flush()
  t.same(ann.sent, [event('main', [[1, 'Ann']], [], 1)], 'alone: itself')

  enter(bob) // its snapshot is still being compressed
  t.equal(ann.sent.length, 1, 'nothing before the flush')
  presence.flush()
  t.same(ann.sent.slice(1), ['{"type":"presence","canvas":"main","joined":[{"connectionId":2,"name":"Bob"}],"left":[],"count":2}'])
  t.same(bob.sent, [], 'the newcomer does not hear of its own join')
  presence.sendRoster(bob)
  presence.flush()
  t.same(bob.sent, [event('main', [[1, 'Ann'], [2, 'Bob']], [], 2)], 'its roster has everyone, itself included')
  t.equal(ann.sent.length, 2, 'the others hear nothing of a roster')
  presence.flush()
  t.same([ann.sent.length, bob.sent.length], [2, 1], 'an empty flush sends nothing')
})

t.test('the roster and the joined list are capped at maxList; count is everyone', async (t) => {
  const { presence, enter, settle } = setup(2)
  const watcher = new FakeClient(9, 'W')
  settle(watcher)
  const cs = [1, 2, 3].map((id) => new FakeClient(id, `c${id}`))
  for (const c of cs) enter(c)
  presence.sendRoster(cs[2])
  presence.flush()
  t.same(watcher.sent, [event('main', [[1, 'c1'], [2, 'c2']], [], 4)])
  t.same(cs[2].sent, [event('main', [[9, 'W'], [1, 'c1']], [], 4)])
  t.same(cs[0].sent, [], 'no roster yet, no event')
})

t.test('a leave is told at the next flush; join and leave within a flush are not told at all', async (t) => {
  const { presence, enter, exit, settle } = setup()
  const [a, b, c, d] = [1, 2, 3, 4].map((id) => new FakeClient(id, `c${id}`))
  settle(a, b, c)
  exit(b)
  t.same(a.sent, [])
  presence.flush()
  t.same(a.sent, [event('main', [], [2], 2)])
  t.same(c.sent, [event('main', [], [2], 2)])
  t.same(b.sent, [], 'gone: not told')

  enter(d)
  exit(d)
  presence.flush()
  t.equal(a.sent.length, 1, 'in and out within a flush: nothing')

  enter(d)
  presence.sendRoster(d)
  exit(d)
  exit(c)
  presence.flush()
  t.same(a.sent.slice(1), [event('main', [], [3], 1)], 'only the leave of one who was here')
  t.same(d.sent, [], 'no roster for one who left before it was sent')
  presence.flush()
  t.equal(a.sent.length, 2)
})

t.test('the newcomers of one flush share one roster, which reflects that flush', async (t) => {
  const { presence, hub, enter, exit, settle } = setup()
  const [a, c] = [1, 3].map((id) => new FakeClient(id, `c${id}`))
  settle(a, c)
  const b = new FakeClient(2, 'c2')
  const d = new FakeClient(4, 'c4')
  // b resumes by replay: it asks for its roster as soon as it is attached, before its join is queued
  hub.subscribe(b, canvasTopic('main'))
  presence.sendRoster(b)
  presence.join(b)
  exit(c)
  enter(d)
  presence.sendRoster(d)
  presence.flush()
  t.same(a.sent, [event('main', [[2, 'c2'], [4, 'c4']], [3], 3)], 'the others: who came and who left')
  const roster = event('main', [[1, 'c1'], [2, 'c2'], [4, 'c4']], [], 3)
  t.same(b.sent, [roster], 'b: the roster, without c, and not the event as well')
  t.same(d.sent, [roster], 'd: the same roster')
  presence.flush()
  t.same([a.sent.length, b.sent.length, d.sent.length], [1, 1, 1])
  exit(a)
  presence.flush()
  t.same(b.sent.slice(1), [event('main', [], [1], 2)], 'newcomers hear of the next flush\'s events')
  t.equal(b.sent[1], d.sent[1])
})

t.test('with an interval, joins, leaves and rosters wait for it; cursors do not', async (t) => {
  let clock = 0
  const { presence, enter, exit, settle } = setup(100, 1000, () => clock)
  const a = new FakeClient(1, 'a')
  settle(a) // the first flush is due at once
  const [b, c] = [2, 3].map((id) => new FakeClient(id, `c${id}`))
  clock = 10
  enter(b)
  presence.sendRoster(b)
  enter(c)
  presence.cursor(a, 5, 6)
  presence.flush()
  t.same(a.sent, [cursorsFrame([[1, 5, 6]])], 'the cursor goes at the tick')
  t.same(b.sent, [cursorsFrame([[1, 5, 6]])], 'the roster waits')
  clock = 500
  exit(c)
  presence.flush()
  clock = 999
  presence.flush()
  t.equal(a.sent.length, 1, 'nothing before the interval has passed')
  clock = 1000
  presence.flush()
  t.same(a.sent.slice(1), [event('main', [[2, 'c2']], [], 2)], 'one event for the interval; c came and went unannounced')
  t.same(b.sent.slice(1), [event('main', [[1, 'a'], [2, 'c2']], [], 2)], 'and b\'s roster')
  clock = 1500
  exit(b)
  presence.flush()
  t.equal(a.sent.length, 2)
  clock = 2100
  presence.flush()
  t.same(a.sent.slice(2), [event('main', [], [2], 1)], 'the next interval, measured from the last presence flush')
})

t.test('cursors: one frame per tick, the last position of each, the same buffer for all', async (t) => {
  const { presence, settle } = setup()
  const a = new FakeClient(1, 'a')
  const b = new FakeClient(0x01020304, 'b')
  const c = new FakeClient(0xfffffffe, 'c')
  settle(a, b, c)
  presence.cursor(b, 1, 2)
  presence.cursor(a, 0x0506, 0x0708)
  presence.cursor(b, 3, 4)
  presence.cursor(c, 0xffff, 0)
  presence.cursor(b, 0x1234, 0xabcd)
  t.same(a.sent, [], 'nothing before the flush')
  presence.flush()
  const want = cursorsFrame([[0x01020304, 0x1234, 0xabcd], [1, 0x0506, 0x0708], [0xfffffffe, 0xffff, 0]])
  t.equal(want.toString('hex'), '12' + '0003' + '01020304' + '1234' + 'abcd' + '00000001' + '0506' + '0708' + 'fffffffe' + 'ffff' + '0000')
  for (const x of [a, b, c]) {
    t.equal(x.sent.length, 1, `one frame for ${x.id}, its own cursor included`)
    t.same(x.sent[0], want)
  }
  t.equal(a.sent[0], b.sent[0], 'encoded once')
  t.equal(a.sent[0], c.sent[0])

  presence.cursor(a, 9, 9)
  presence.cursor(a, 10, 11)
  presence.flush()
  t.same(b.cursors[1], cursorsFrame([[1, 10, 11]]), 'only who moved, at its last position')
  presence.flush()
  t.same([a.sent.length, b.sent.length, c.sent.length], [2, 2, 2], 'nothing moved, nothing sent')
})

t.test('presence goes before cursors in a tick; a leave drops the pending cursor', async (t) => {
  const { presence, enter, exit, settle } = setup()
  const [a, b, c] = [1, 2, 3].map((id) => new FakeClient(id, `c${id}`))
  settle(a, b)
  presence.cursor(b, 5, 5)
  presence.cursor(a, 1, 1)
  enter(c)
  presence.cursor(c, 2, 2)
  exit(b)
  presence.flush()
  t.same(a.sent, [event('main', [[3, 'c3']], [2], 2), cursorsFrame([[1, 1, 1], [3, 2, 2]])])
  t.same(c.sent, [cursorsFrame([[1, 1, 1], [3, 2, 2]])], 'a newcomer without its roster gets cursors only')
  presence.sendRoster(c)

  presence.cursor(c, 7, 7)
  exit(c)
  presence.flush()
  t.same(a.sent.slice(2), [event('main', [], [3], 1)], 'no CURSORS for one who left')
  t.equal(c.sent.length, 1, 'and nothing for it, not even its roster')
})

t.test('canvases are independent', async (t) => {
  const { presence, enter, exit, settle } = setup()
  const m1 = new FakeClient(1, 'm1', 'main')
  const m2 = new FakeClient(2, 'm2', 'main')
  const o1 = new FakeClient(3, 'o1', 'other')
  const o2 = new FakeClient(4, 'o2', 'other')
  settle(m1, o1)
  presence.cursor(m1, 1, 2)
  enter(o2)
  presence.flush()
  t.same(m1.sent, [cursorsFrame([[1, 1, 2]])])
  t.same(o1.sent, [event('other', [[4, 'o2']], [], 2)])
  t.same(o2.sent, [])
  enter(m2)
  exit(o2)
  presence.sendRoster(o1) // asked again (e.g. after a snapshot resync): a roster of its own canvas
  presence.flush()
  t.same(m1.sent.slice(1), [event('main', [[2, 'm2']], [], 2)])
  t.same(o1.sent.slice(1), [event('other', [], [4], 1), event('other', [[3, 'o1']], [], 1)])
  t.same(m2.sent, [])
})

t.test('a canvas nobody watches any more sends nothing, and its pending state is dropped', async (t) => {
  const { presence, hub, broker, enter, settle } = setup()
  const x = new FakeClient(1, 'x', 'empty')
  const y = new FakeClient(2, 'y', 'empty')
  const w = new FakeClient(3, 'w', 'main')
  settle(w)
  enter(x)
  presence.cursor(x, 3, 3)
  // gone from the canvas (the hub, and who is here: the broker's presence), its leave not queued
  hub.unsubscribeAll(x)
  broker.presence.remove(canvasTopic('empty'), x.id)
  presence.flush()
  t.same(x.sent, [])
  t.same(w.sent, [], 'other canvases hear nothing of it')
  enter(y)
  presence.sendRoster(y)
  presence.flush()
  t.same(y.sent, [event('empty', [[2, 'y']], [], 1)], 'its roster, and no join of x')
  presence.flush()
  t.equal(y.sent.length, 1, 'nothing stale later: no join of x, no cursor of x')
  presence.cursor(y, 4, 5)
  presence.flush()
  t.same(y.sent.slice(1), [cursorsFrame([[2, 4, 5]])], 'only what is new')
})
