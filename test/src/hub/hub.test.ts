import t from 'tap'
import { createHub, type Subscriber } from '../../../src/hub/hub.js'

const sub = (id: number, closed = false): Subscriber => ({ id, closed })

/** The ids of a topic's subscribers, in subscription order, as deliver() visits them. */
function ids (hub: ReturnType<typeof createHub<Subscriber>>, topic: string): number[] {
  const seen: number[] = []
  hub.deliver(topic, null, { sendTo (s) { seen.push(s.id); return true } })
  return seen
}

t.test('both indexes move together and report changes', async (t) => {
  const hub = createHub<Subscriber>()
  const a = sub(1)
  const b = sub(2)
  t.equal(hub.subscribe(a, 'canvas:main'), true)
  t.equal(hub.subscribe(a, 'canvas:main'), false, 'second subscribe changes nothing')
  t.equal(hub.subscribe(a, 'chat:lobby'), true)
  t.equal(hub.subscribe(b, 'canvas:main'), true)
  t.equal(hub.count('canvas:main'), 2)
  t.same([...hub.topicsOf(1)].sort(), ['canvas:main', 'chat:lobby'])
  t.same(ids(hub, 'canvas:main'), [1, 2])

  t.equal(hub.unsubscribe(a, 'chat:lobby'), true)
  t.equal(hub.unsubscribe(a, 'chat:lobby'), false, 'second unsubscribe changes nothing')
  t.equal(hub.unsubscribe(a, 'never'), false)
  t.same([...hub.topics()].sort(), ['canvas:main'], 'empty topic deleted')

  t.same(hub.unsubscribeAll(a), ['canvas:main'])
  t.same(hub.unsubscribeAll(a), [], 'idempotent')
  t.same([...hub.topicsOf(1)], [])
  t.same(hub.size(), { topics: 1, connections: 1 })
  hub.unsubscribeAll(b)
  t.same(hub.size(), { topics: 0, connections: 0 }, 'no empty sets left behind')
  t.same(ids(hub, 'canvas:main'), [])
})

t.test('a closed subscriber is never added', async (t) => {
  const hub = createHub<Subscriber>()
  t.equal(hub.subscribe(sub(3, true), 'canvas:main'), false)
  t.equal(hub.count('canvas:main'), 0)
  t.same(hub.size(), { topics: 0, connections: 0 })
})

t.test('random operations keep the invariant', async (t) => {
  const hub = createHub<Subscriber>()
  const subs = Array.from({ length: 20 }, (_, i) => sub(i + 1))
  const topics = ['a:1', 'a:2', 'b:1', 'canvas:x']
  const model = new Map<number, Set<string>>()
  let seed = 42
  const rnd = (n: number) => { seed = (seed * 1103515245 + 12345) & 0x7fffffff; return seed % n }
  for (let i = 0; i < 5000; i++) {
    const s = subs[rnd(subs.length)]
    const topic = topics[rnd(topics.length)]
    const set = model.get(s.id) ?? new Set()
    const op = rnd(3)
    if (op === 0) { t.equal(hub.subscribe(s, topic), !set.has(topic)); set.add(topic) }
    if (op === 1) { t.equal(hub.unsubscribe(s, topic), set.has(topic)); set.delete(topic) }
    if (op === 2) { t.same(hub.unsubscribeAll(s).sort(), [...set].sort()); set.clear() }
    if (set.size === 0) model.delete(s.id); else model.set(s.id, set)
  }
  for (const topic of topics) {
    const expected = [...model].filter(([, set]) => set.has(topic)).map(([id]) => id).sort((x, y) => x - y)
    t.same(ids(hub, topic).sort((x, y) => x - y), expected, topic)
  }
  t.equal(hub.size().connections, model.size)
})

t.test('deliver: one frame to every subscriber of the topic, through the sender; counts what it sent', async (t) => {
  const hub = createHub<Subscriber>()
  const [a, b, c] = [1, 2, 3].map((id) => sub(id))
  hub.subscribe(a, 'canvas:main')
  hub.subscribe(b, 'canvas:main')
  hub.subscribe(c, 'chat:x')
  const frame = { data: 'hi' }
  const got: Array<[number, unknown]> = []
  const sender = { sendTo (s: Subscriber, f: unknown) { got.push([s.id, f]); return s.id !== 2 } }
  t.equal(hub.deliver('canvas:main', frame, sender), 1, 'only the sends that happened count')
  t.same(got, [[1, frame], [2, frame]])
  t.equal(got[0][1], frame, 'the frame as given: built once by the caller')
  t.equal(hub.deliver('nobody', frame, sender), 0)
  t.equal(got.length, 2)
})

t.test('deliver: a sender may drop the subscriber it is given; the rest still get the frame', async (t) => {
  const hub = createHub<Subscriber>()
  const subs = [1, 2, 3, 4].map((id) => sub(id))
  for (const s of subs) hub.subscribe(s, 'alerts:x')
  const seen: number[] = []
  const sender = { sendTo (s: Subscriber) { seen.push(s.id); if (s.id % 2 === 1) hub.unsubscribeAll(s); return true } }
  t.equal(hub.deliver('alerts:x', null, sender), 4)
  t.same(seen, [1, 2, 3, 4])
  t.same(ids(hub, 'alerts:x'), [2, 4])
})

t.test('a topic\'s first subscriber subscribes it at the broker, its last one\'s leaving unsubscribes it', async (t) => {
  const calls: string[] = []
  const hub = createHub<Subscriber>({ subscribe: (topic) => calls.push(`+${topic}`), unsubscribe: (topic) => calls.push(`-${topic}`) })
  const [a, b] = [1, 2].map((id) => sub(id))
  hub.subscribe(a, 'user:u')
  hub.subscribe(b, 'user:u')
  hub.subscribe(a, 'user:u')
  hub.subscribe(a, 'canvas:main')
  t.same(calls, ['+user:u', '+canvas:main'])
  hub.unsubscribe(a, 'user:u')
  t.same(calls.length, 2, 'b is still there')
  hub.unsubscribeAll(b)
  hub.unsubscribeAll(a)
  t.same(calls, ['+user:u', '+canvas:main', '-user:u', '-canvas:main'])
  t.equal(hub.get('user:u', 1), undefined)
  hub.subscribe(b, 'user:u')
  t.equal(hub.get('user:u', 2), b, 'a lookup by id')
  t.equal(hub.get('user:u', 1), undefined)
})

t.test('each hub counts its own frames', async (t) => {
  const one = createHub<Subscriber>()
  const two = createHub<Subscriber>()
  one.frames.count += 3
  t.equal(two.frames.count, 0, 'two apps in one process do not share a counter')
})
