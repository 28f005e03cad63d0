// The one pipeline over real sockets: every outgoing event is published to
// the broker (and comes back through it), each connection is on its user's
// topic, and frames are counted per app.
import t from 'tap'
import type { BrokerEvent, Topic } from '../../../src/broker/broker.js'
import { userTopic } from '../../../src/broker/broker.js'
import { listen, token, isUpdates, isType, joinClient as join } from '../../helper.js'

const asAdmin = { authorization: `Bearer ${token({ sub: 'ops', role: 'admin' })}` }

t.test('canvas commits, stream messages, broadcasts, presence and cursors all go through the broker', async (t) => {
  const srv = await listen(t, { PRESENCE_MS: '0' })
  const published: Array<[Topic, BrokerEvent['type']]> = []
  const broker = srv.app.broker
  const publish = broker.publish.bind(broker)
  broker.publish = (topic, event, opts) => { published.push([topic, event.type]); return publish(topic, event, opts) }
  // Stream messages (and answers that wait on delivery) go through deliver, the broker's other way in.
  const deliver = broker.deliver.bind(broker)
  broker.deliver = (topic, event, opts) => { published.push([topic, event.type]); return deliver(topic, event, opts) }
  const { c: a } = await join(srv, { sub: 'ann' })
  const { c: b } = await join(srv, { sub: 'bob' })
  t.teardown(() => { a.close(); b.close() })

  a.send(Buffer.from([0x00, 0, 1, 0, 2, 9, 9, 9])) // PIXEL
  await b.next(isUpdates)
  a.send(Buffer.from([0x03, 0, 3, 0, 4])) // CURSOR
  await b.next((m) => m.bin?.[0] === 0x12)
  b.send(JSON.stringify({ type: 'subscribe', stream: 'chat:x' }))
  await b.next(isType('subscribed'))
  a.send(JSON.stringify({ type: 'publish', stream: 'chat:x', data: 'hi' }))
  await b.next(isType('message'))
  for (const body of [{ canvas: 'main', data: 1 }, { user: 'bob', data: 2 }, { stream: 'chat:x', data: 3 }]) {
    const res = await srv.app.inject({ method: 'POST', url: '/api/admin/broadcast', headers: asAdmin, payload: body })
    t.equal(res.json().delivered, 1 + (body.canvas !== undefined ? 1 : 0), JSON.stringify(body))
  }
  t.same((await b.next(isType('broadcast'))).json, { type: 'broadcast', canvas: 'main', data: 1 })
  t.same((await b.next(isType('broadcast'))).json, { type: 'broadcast', user: 'bob', data: 2 })
  a.close()
  await b.next((m) => m.json?.type === 'presence' && m.json.left.length === 1)

  const seen = (type: string) => published.filter(([, ty]) => ty === type).map(([topic]) => topic)
  t.same(seen('commit'), ['canvas:main'], 'the committed batch')
  t.ok(seen('cursors').includes('canvas:main'), 'cursors')
  t.same(seen('message'), ['stream:chat:x', 'stream:chat:x'], 'a client\'s publish and an admin\'s')
  t.same(seen('broadcast'), ['canvas:main', 'user:bob'])
  t.ok(seen('presence').length >= 2, 'joins and the leave')
})

t.test('each connection is on its user\'s topic while it lives; a user broadcast is delivered there', async (t) => {
  const srv = await listen(t)
  const { c: a1 } = await join(srv, { sub: 'ann' })
  const { c: a2 } = await join(srv, { sub: 'ann' })
  const { c: b } = await join(srv, { sub: 'bob' })
  t.teardown(() => { a2.close(); b.close() })
  t.equal(srv.app.hub.count(userTopic('ann')), 2)
  t.equal(srv.app.hub.count(userTopic('bob')), 1)
  a1.close()
  await a1.closed
  while (srv.app.hub.count(userTopic('ann')) !== 1) await new Promise((resolve) => setTimeout(resolve, 10))
  const res = await srv.app.inject({ method: 'POST', url: '/api/admin/broadcast', headers: asAdmin, payload: { user: 'ann', data: 'x' } })
  t.same(res.json(), { delivered: 1 })
  t.same((await a2.next(isType('broadcast'))).json, { type: 'broadcast', user: 'ann', data: 'x' })
  const view = await srv.app.inject({ url: '/api/admin/connections?user=ann', headers: asAdmin })
  t.same(view.json()[0].streams, [], 'the user topic is no stream')
})

t.test('frames are counted per app: two apps in one process keep their own count', async (t) => {
  const one = await listen(t)
  const two = await listen(t)
  const before = two.app.hub.frames.count
  const { c } = await join(one, { sub: 'ann' })
  t.teardown(() => c.close())
  t.ok(one.app.hub.frames.count >= 2, `hello and snapshot counted by the app that wrote them (${one.app.hub.frames.count})`)
  t.equal(two.app.hub.frames.count, before, 'the other app counted nothing')
})
