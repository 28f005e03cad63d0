// The one local fan-out over real Connections: every event type published to
// the in-memory broker comes back and goes out as ONE frame, framed once and
// written as the same buffer to every connection (text and binary alike).
import t from 'tap'
import { createMemoryBroker } from '../../../src/broker/memory.js'
import { canvasTopic, userTopic } from '../../../src/broker/broker.js'
import { createPipeline } from '../../../src/hub/fanout.js'
import { createPresence } from '../../../src/canvas/presence.js'
import { Connection, type SharedFrame, type Transport } from '../../../src/connection/connection.js'
import { wsFrame } from '../../../plugins/websocket/ws-frame.js'

/** Frames a shared frame as the ws adapter does: once, into the frame's slot, reused by every connection. */
class FramingTransport implements Transport {
  bufferedAmount = 0
  framed: Buffer[] = []
  plain: Array<Buffer | string> = []
  send (d: Buffer | string) { this.plain.push(d) }
  sendShared (frame: SharedFrame) { this.framed.push(frame.framed ??= wsFrame(frame.data)) }
  close () {}
  ping () {}
  terminate () {}
}

function setup () {
  const pipeline = createPipeline<Connection>(createMemoryBroker())
  const frames = { count: 0 }
  const limits = { sendBufferBytes: 1000, badMessageWindowMs: 1000, rateAbuseWindowMs: 1000, frames }
  const conns = [1, 2, 3].map((id) => {
    const tr = new FramingTransport()
    const conn = new Connection(id, tr, { id: id === 3 ? 'bob' : 'ann', name: `n${id}`, role: 'painter', exp: 0 }, 'main', '127.0.0.1', limits)
    return { conn, tr }
  })
  return { ...pipeline, conns, frames }
}

t.test('a broadcast to a user topic: its connections only, one text frame framed once', async (t) => {
  const { hub, broker, conns, frames } = setup()
  for (const { conn } of conns) hub.subscribe(conn, userTopic(conn.user.id))
  const res = broker.publish(userTopic('ann'), { type: 'broadcast', user: 'ann', data: { x: 'é' } })
  t.same(res, { offset: 0, delivered: 2 })
  const [a, b, c] = conns.map((x) => x.tr)
  t.equal(a.framed.length, 1)
  t.equal(a.framed[0], b.framed[0], 'the very same framed buffer for both')
  t.same(a.framed[0].subarray(2).toString(), '{"type":"broadcast","user":"ann","data":{"x":"é"}}')
  t.equal(a.framed[0][0], 0x81, 'a text frame')
  t.same([c.framed.length, c.plain.length], [0, 0], 'another user: nothing')
  t.equal(frames.count, 2, 'counted on the app\'s counter')
})

t.test('presence and cursors: published, come back, one frame each for the canvas', async (t) => {
  const pipeline = setup()
  const { hub, conns } = pipeline
  const presence = createPresence<Connection>({ ...pipeline, maxList: 10 })
  for (const { conn } of conns) { hub.subscribe(conn, canvasTopic('main')); presence.join(conn); presence.sendRoster(conn) }
  presence.flush()
  const [a, b, c] = conns.map((x) => x.tr)
  t.equal(a.framed[0], c.framed[0], 'the roster: one frame for the three newcomers')
  presence.cursor(conns[0].conn, 5, 6)
  presence.cursor(conns[1].conn, 7, 8)
  presence.flush()
  t.equal(a.framed.length, 2)
  t.equal(a.framed[1], b.framed[1], 'CURSORS: one binary frame, framed once')
  t.equal(b.framed[1], c.framed[1])
  t.equal(a.framed[1][0], 0x82, 'a binary frame')
  t.same([...a.framed[1].subarray(2, 5)], [0x12, 0, 2], 'CURSORS, two entries')
  presence.leave(conns[2].conn)
  hub.unsubscribeAll(conns[2].conn)
  presence.flush()
  t.equal(a.framed[2], b.framed[2], 'the leave: one frame')
  t.same(JSON.parse(a.framed[2].subarray(2).toString()), { type: 'presence', canvas: 'main', joined: [], left: [3], count: 2 })
})

t.test('one handler per event type; an event nobody handles is a bug, not a silent drop', async (t) => {
  const { fanout } = setup()
  fanout.on('cursors', () => 0)
  t.throws(() => fanout.on('cursors', () => 0), /already has a cursors handler/)
  t.throws(() => fanout.on('broadcast', () => 0), /already has a broadcast handler/, 'broadcasts are the fan-out\'s own')
  t.throws(() => fanout.dispatch('stream:a:b', { offset: 1, event: { type: 'message', stream: 'a:b', json: '1' } }), /no handler for message events/)
})
