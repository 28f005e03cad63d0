import t from 'tap'
import { createHub, type Subscriber } from '../../../src/hub/hub.js'

const sub = (id: number, closed = false): Subscriber => ({ id, closed })

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
  t.same([...hub.subscribers('canvas:main').keys()], [1, 2])

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
  t.equal(hub.subscribers('canvas:main').size, 0)
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
    t.same([...hub.subscribers(topic).keys()].sort((x, y) => x - y), expected, topic)
  }
  t.equal(hub.size().connections, model.size)
})
