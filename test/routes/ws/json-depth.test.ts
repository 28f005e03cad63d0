// Issue 10, point 2, over real sockets: a deeply nested text message (16 KB,
// under MAX_MESSAGE_BYTES) is a BAD_MESSAGE, budgeted like any other (4400),
// and logs nothing at error level; meanwhile another client's pings are
// answered (their round trip is reported, not asserted: speed is for bench/).
import { PassThrough } from 'node:stream'
import { performance } from 'node:perf_hooks'
import t from 'tap'
import { listen, token, TestClient, isHello, isError, type Msg } from '../../helper.js'

// 8,150 levels: the message of the report, 16,321 bytes.
const NESTED = '{"type":"ping","id":' + '['.repeat(8150) + ']'.repeat(8150) + '}'
const LIMIT = 20 // BAD_MESSAGE_LIMIT's default
const ENV = { DEFAULT_CANVAS_WIDTH: '16', DEFAULT_CANVAS_HEIGHT: '16', HANDSHAKE_RATE: '1000000', BAD_MESSAGE_LIMIT: String(LIMIT) }

function logCapture () {
  const lines: string[] = []
  const stream = new PassThrough()
  let rest = ''
  stream.on('data', (d: Buffer) => {
    const parts = (rest + d.toString()).split('\n')
    rest = parts.pop() ?? ''
    lines.push(...parts)
  })
  return { stream, errorLines: () => lines.map((l) => JSON.parse(l)).filter((l) => l.level >= 50) }
}

async function attacker (wsUrl: string, n: number): Promise<{ errors: Msg[], code: number }> {
  const c = new TestClient(wsUrl, { token: token({ sub: 'mallory', role: 'viewer' }) })
  await c.opened
  await c.next(isHello)
  for (let i = 0; i < n; i++) c.send(NESTED)
  const { code } = await c.closed.then((r) => r, () => ({ code: -1 }))
  return { errors: c.msgs.filter((m) => m.json?.type === 'error'), code }
}

const quantile = (xs: number[], q: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(q * xs.length))]

t.test('nested JSON is BAD_MESSAGE, budgeted to 4400, and never an error line', async (t) => {
  const logs = logCapture()
  const srv = await listen(t, ENV, logs.stream)

  const c = new TestClient(srv.wsUrl, { token: token({ sub: 'mallory', role: 'viewer' }) })
  await c.opened
  await c.next(isHello)
  c.send(NESTED)
  const err = await c.next((m) => m.json?.type === 'error')
  t.match(err.json, { code: 'BAD_MESSAGE', message: /deeper than 32 levels/ }, 'BAD_MESSAGE, not INTERNAL')
  c.send('{"type":"ping","id":1}')
  t.same((await c.next((m) => m.json?.type === 'pong')).json, { type: 'pong', id: 1 }, 'the connection lives on')
  for (let i = 0; i < LIMIT; i++) c.send(NESTED)
  t.equal((await c.closed).code, 4400, `the ${LIMIT + 1}th within the window closes with 4400`)
  t.ok(c.msgs.filter(isError('BAD_MESSAGE')).length >= LIMIT - 1, 'each was answered BAD_MESSAGE')
  t.equal(c.msgs.filter(isError('INTERNAL')).length, 0, 'never INTERNAL')
  t.same(logs.errorLines(), [], 'no error-level log line')
})

t.test('another client\'s ping round trip while an attacker floods nested JSON', async (t) => {
  const logs = logCapture()
  const srv = await listen(t, ENV, logs.stream)
  const victim = new TestClient(srv.wsUrl, { token: token({ sub: 'victim', role: 'viewer' }) })
  await victim.opened
  await victim.next(isHello)
  let id = 0
  async function ping (): Promise<number> {
    const mine = ++id
    const t0 = performance.now()
    victim.send(JSON.stringify({ type: 'ping', id: mine }))
    await victim.next((m) => m.json?.type === 'pong' && m.json.id === mine)
    return performance.now() - t0
  }
  const quiet: number[] = []
  for (let i = 0; i < 50; i++) quiet.push(await ping())

  // As in the report: 1,365 nested messages, here from connection after connection (each ends in 4400).
  const TOTAL = 1365
  const flood = { on: true }
  const under: number[] = []
  const pinger = (async () => { while (flood.on) under.push(await ping()) })()
  let sent = 0
  let connections = 0
  const codes = new Set<number>()
  while (sent < TOTAL) {
    const n = Math.min(LIMIT + 1, TOTAL - sent)
    const r = await attacker(srv.wsUrl, n)
    sent += n
    connections++
    codes.add(r.code)
    t.equal(r.errors.filter((m) => m.json.code === 'INTERNAL').length, 0)
  }
  flood.on = false
  await pinger
  t.ok(codes.has(4400), `attackers were closed with 4400 (codes ${[...codes].join(', ')})`)
  t.same(logs.errorLines(), [], 'no error-level log line in the whole flood')
  t.ok(under.length > 0, 'the victim kept getting pongs')
  const fmt = (xs: number[]) => `n=${xs.length} p50 ${quantile(xs, 0.5).toFixed(2)} ms, p99 ${quantile(xs, 0.99).toFixed(2)} ms, max ${Math.max(...xs).toFixed(2)} ms`
  t.comment(`victim ping RTT, quiet: ${fmt(quiet)}`)
  t.comment(`victim ping RTT, under a flood of ${sent} nested messages over ${connections} connections: ${fmt(under)}`)
  victim.close()
})
