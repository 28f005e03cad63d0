// The message handler's own failures: an exception while handling a message
// answers INTERNAL, spends the sender's bad-message budget (so it cannot be
// repeated for free), and its error lines are throttled for the process.
import t from 'tap'
import { Connection, type Transport } from '../../../src/connection/connection.js'
import { HANDLER_ERROR_LOG_LIMIT, createMessageHandler, type SessionOptions } from '../../../src/connection/session.js'
import { createMeter } from '../../../src/metrics.js'
import { createPixelBudget } from '../../../src/rate/pixel-budget.js'

class FakeTransport implements Transport {
  bufferedAmount = 0
  sent: Array<Buffer | string> = []
  closes: Array<[number, string]> = []
  send (d: Buffer | string) { this.sent.push(d) }
  close (code: number, reason: string) { this.closes.push([code, reason]) }
  ping () {}
  terminate () {}
}

const BAD_MESSAGE_LIMIT = 3

/** A handler whose streams throw on subscribe: the stand-in for any bug on the path. */
function setup () {
  const errors: unknown[] = []
  const meter = createMeter()
  const opts: SessionOptions = {
    canvases: {} as unknown as SessionOptions['canvases'],
    presence: {} as unknown as SessionOptions['presence'],
    streams: { subscribe () { throw new RangeError('Maximum call stack size exceeded') } } as unknown as SessionOptions['streams'],
    log: { info () {}, warn () {}, error (obj: unknown) { errors.push(obj) } },
    pixels: createPixelBudget({ rate: 1, burst: 1, guestIpRate: 1, guestIpBurst: 1 }),
    verifyToken () { throw new Error('unused') },
    maxStrokePixels: 10,
    maxRectPixels: 10,
    badMessageLimit: BAD_MESSAGE_LIMIT,
    rateAbuseLimit: 10,
    meter
  }
  const onMessage = createMessageHandler(opts)
  let ids = 0
  function connect () {
    const tr = new FakeTransport()
    const conn = new Connection(++ids, tr, { id: 'u', name: 'u', role: 'viewer', exp: 0 }, 'main', '127.0.0.1', {
      sendBufferBytes: 1 << 20, badMessageWindowMs: 60_000, rateAbuseWindowMs: 60_000
    })
    return { tr, conn }
  }
  const subscribe = Buffer.from('{"type":"subscribe","stream":"chat:main"}')
  return { errors, meter, onMessage, connect, subscribe }
}

t.test('an exception answers INTERNAL and counts toward the bad-message budget (4400)', async (t) => {
  const { onMessage, connect, subscribe } = setup()
  const { tr, conn } = connect()
  for (let i = 0; i < BAD_MESSAGE_LIMIT; i++) onMessage(conn, subscribe, false)
  t.equal(tr.sent.length, BAD_MESSAGE_LIMIT)
  for (const m of tr.sent) t.match(JSON.parse(m as string), { type: 'error', code: 'INTERNAL' })
  t.same(tr.closes, [], 'within the budget the connection lives')
  onMessage(conn, subscribe, false)
  t.same(tr.closes, [[4400, 'too many bad messages']], 'one more closes it')
})

t.test('error lines are throttled across connections; every failure is counted', async (t) => {
  const { errors, meter, onMessage, connect, subscribe } = setup()
  const failures = 5 * HANDLER_ERROR_LOG_LIMIT
  // Fresh connections, each under its own budget: only the shared throttle can bound the lines.
  for (let i = 0; i < failures; i++) onMessage(connect().conn, subscribe, false)
  t.equal(errors.length, HANDLER_ERROR_LOG_LIMIT, `${failures} failures, ${HANDLER_ERROR_LOG_LIMIT} lines`)
  t.equal(meter.counts.handlerErrors, failures)
  // The next window's first line says how many went unlogged.
  const realNow = Date.now
  Date.now = () => realNow() + 60_000
  t.teardown(() => { Date.now = realNow })
  onMessage(connect().conn, subscribe, false)
  t.equal(errors.length, HANDLER_ERROR_LOG_LIMIT + 1)
  t.match(errors.at(-1), { unlogged: failures - HANDLER_ERROR_LOG_LIMIT, err: RangeError })
})

t.test('in-band auth: a replacement token of a banned user is refused FORBIDDEN; the token stays', async (t) => {
  const banned = new Set(['u'])
  const opts: SessionOptions = {
    canvases: {} as unknown as SessionOptions['canvases'],
    presence: {} as unknown as SessionOptions['presence'],
    streams: {} as unknown as SessionOptions['streams'],
    log: { info () {}, warn () {}, error () {} },
    pixels: createPixelBudget({ rate: 1, burst: 1, guestIpRate: 1, guestIpBurst: 1 }),
    verifyToken: (token) => ({ id: 'u', name: 'u', role: 'painter', exp: Number(token) }),
    refusedUser: (user) => banned.has(user) ? 'banned until later' : null,
    maxStrokePixels: 10,
    maxRectPixels: 10,
    badMessageLimit: 10,
    rateAbuseLimit: 10
  }
  const onMessage = createMessageHandler(opts)
  const tr = new FakeTransport()
  const conn = new Connection(1, tr, { id: 'u', name: 'u', role: 'painter', exp: 100 }, 'main', '127.0.0.1', {
    sendBufferBytes: 1 << 20, badMessageWindowMs: 60_000, rateAbuseWindowMs: 60_000
  })
  onMessage(conn, Buffer.from('{"type":"auth","token":"200"}'), false)
  t.match(JSON.parse(tr.sent[0] as string), { type: 'error', code: 'FORBIDDEN', message: 'banned until later' })
  t.equal(conn.user.exp, 100, 'the old token stays')
  banned.clear()
  onMessage(conn, Buffer.from('{"type":"auth","token":"200"}'), false)
  t.match(JSON.parse(tr.sent[1] as string), { type: 'authenticated', exp: 200 })
})
