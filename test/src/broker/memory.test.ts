// The in-memory broker alone: synchronous delivery to the one handler, only
// for subscribed topics, in order; history with offsets that only grow and
// a bound on topics held; presence in join order.
import t from 'tap'
import { createMemoryBroker } from '../../../src/broker/memory.js'
import type { BrokerEvent, Publication, Topic } from '../../../src/broker/broker.js'

const T0 = 1_700_000_000_000
const B = T0 * 1000

function setup (opts: { maxTopics?: number } = {}) {
  const broker = createMemoryBroker({ now: () => T0, ...opts })
  const got: Array<[Topic, Publication]> = []
  broker.start((topic, pub) => { got.push([topic, pub]); return 7 })
  return { broker, got }
}

const msg = (json: string): BrokerEvent => ({ type: 'message', stream: 's:x', json })
const bc = (data: unknown): BrokerEvent => ({ type: 'broadcast', user: 'u', data })

t.test('publish hands the event to the handler before it returns, on subscribed topics only', async (t) => {
  const { broker, got } = setup()
  t.same(broker.publish('user:u', bc(1)), { offset: 0, delivered: 0 }, 'nobody here subscribes: nothing delivered')
  t.same(got, [])
  broker.subscribe('user:u')
  const event = bc(2)
  t.same(broker.publish('user:u', event), { offset: 0, delivered: 7 }, 'delivered is what the handler counted')
  t.equal(got.length, 1, 'synchronously: no queue, no microtask')
  t.equal(got[0][0], 'user:u')
  t.equal(got[0][1].event, event, 'the very value published')
  t.equal(got[0][1].offset, 0, 'no history asked: no offset')
  broker.publish('user:u', bc(3))
  broker.publish('user:u', bc(4))
  t.same(got.map(([, p]) => (p.event as { data: number }).data), [2, 3, 4], 'in publish order')
})

t.test('subscriptions are counted: the topic stays until every subscribe has its unsubscribe', async (t) => {
  const { broker, got } = setup()
  broker.subscribe('canvas:a') // the canvas service
  broker.subscribe('canvas:a') // the hub's first client
  broker.unsubscribe('canvas:a')
  broker.publish('canvas:a', bc(1))
  t.equal(got.length, 1, 'still subscribed once')
  broker.unsubscribe('canvas:a')
  broker.unsubscribe('canvas:a') // one too many: no harm
  broker.publish('canvas:a', bc(2))
  t.equal(got.length, 1, 'no longer subscribed')
  broker.subscribe('canvas:a')
  broker.publish('canvas:a', bc(3))
  t.equal(got.length, 2, 'an extra unsubscribe did not leave a debt')
})

t.test('the handler is set once', async (t) => {
  const { broker } = setup()
  t.throws(() => broker.start(() => 0), /already has its handler/)
})

t.test('history: offsets from the boot time in microseconds, kept per topic, since replays exactly', async (t) => {
  const { broker, got } = setup()
  t.same(broker.history('stream:s:x'), { offset: B, recovered: true, publications: [] }, 'a topic is created at its first use')
  broker.subscribe('stream:s:x')
  for (let i = 1; i <= 4; i++) t.same(broker.publish('stream:s:x', msg(String(i)), { history: 3 }), { offset: B + i, delivered: 7 })
  t.same(got.map(([, p]) => p.offset), [B + 1, B + 2, B + 3, B + 4], 'the handler gets the offset')
  const h = broker.history('stream:s:x', B + 2)
  t.same(h.publications.map((p) => p.offset), [B + 3, B + 4])
  t.equal(h.publications[0], got[2][1], 'the held publication is the delivered one')
  t.same(broker.history('stream:s:x', B + 1).publications.map((p) => p.offset), [B + 2, B + 3, B + 4], 'the oldest held is the next one')
  t.same(broker.history('stream:s:x', B), { offset: B + 4, recovered: false, publications: [] }, 'B + 1 is no longer held: none replayed')
  t.same(broker.history('stream:s:x', B + 4), { offset: B + 4, recovered: true, publications: [] }, 'up to date')
  t.same(broker.history('stream:s:x', B + 5), { offset: B + 4, recovered: false, publications: [] }, 'ahead of the topic')
  t.same([...broker.histories()], [{ topic: 'stream:s:x', offset: B + 4, held: 3 }])
})

t.test('history: at most maxTopics held; the least recently used unsubscribed one goes, and its offsets are never reused', async (t) => {
  const { broker } = setup({ maxTopics: 2 })
  broker.subscribe('stream:a')
  broker.history('stream:a')
  for (let i = 0; i < 3; i++) broker.publish('stream:b', msg('b'), { history: 10 })
  broker.publish('stream:c', msg('c'), { history: 10 }) // b goes: a is subscribed here
  t.same([...broker.histories()].map((h) => h.topic), ['stream:a', 'stream:c'])
  broker.publish('stream:b', msg('b again'), { history: 10 }) // c goes
  t.same([...broker.histories()], [{ topic: 'stream:a', offset: B, held: 0 }, { topic: 'stream:b', offset: B + 4, held: 1 }], 'b starts above what it reached')
  broker.subscribe('stream:b')
  broker.publish('stream:d', msg('d'), { history: 10 })
  t.same([...broker.histories()].map((h) => h.topic), ['stream:a', 'stream:b', 'stream:d'], 'over the bound rather than drop a subscribed topic')
})

t.test('presence: who is on a topic, in join order', async (t) => {
  const { broker } = setup()
  const info = (name: string) => ({ user: { name } })
  const ann = info('Ann')
  broker.presence.add('canvas:a', 2, ann)
  broker.presence.add('canvas:a', 1, info('Bob'))
  broker.presence.add('canvas:b', 3, info('Cy'))
  t.same([...broker.presence.get('canvas:a').keys()], [2, 1])
  t.equal(broker.presence.get('canvas:a').get(2), ann)
  t.equal(broker.presence.count('canvas:a'), 2)
  broker.presence.remove('canvas:a', 2)
  broker.presence.remove('canvas:a', 2)
  broker.presence.remove('canvas:x', 9)
  t.same([...broker.presence.get('canvas:a').keys()], [1])
  broker.presence.remove('canvas:a', 1)
  t.equal(broker.presence.count('canvas:a'), 0)
  t.equal(broker.presence.get('canvas:a').size, 0)
  t.equal(broker.presence.count('canvas:b'), 1, 'topics are independent')
})
