// Issue 10, point 3: no token reaches the log, however it arrives. The real
// server runs as a child process at LOG_LEVEL=trace (every line of every
// level), tokens arrive every way a client can send them, valid or not, and
// the whole of its stdout and stderr is searched for each token, its parts
// and its percent-encoded spelling.
import { connect } from 'node:net'
import t from 'tap'
import { SECRET, TestClient, handshake, isHello, tempDir, token } from './helper.js'
import { logLines, startServer, stop } from './process.js'

const encodeAll = (s: string) => [...s].map((c) => '%' + c.charCodeAt(0).toString(16).padStart(2, '0')).join('')

/** Raw HTTP: for request targets `ws` would normalise (absolute form, a `#`). */
function rawUpgrade (port: number, target: string): Promise<string> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1', () => {
      s.write(`GET ${target} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
        'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n')
    })
    let got = ''
    s.on('data', (d) => { got += d.toString(); s.destroy() })
    s.on('close', () => resolve(got.split('\r\n')[0]))
    s.on('error', () => {})
  })
}

t.test('no token in the log at trace level, however it arrives', async (t) => {
  const server = await startServer(t, { DATA_DIR: tempDir(t), JWT_SECRET: SECRET, LOG_LEVEL: 'trace', HANDSHAKE_RATE: '1000' })
  const url = server.ws
  const tokens: string[] = []
  const tok = (sub: string, opts: { secret?: string, ttlSec?: number } = {}) => {
    const s = token({ sub }, opts)
    tokens.push(s)
    return s
  }
  const bogus = (sub: string) => {
    const s = tok(sub)
    const forged = s.slice(0, -6) + (s.endsWith('AAAAAA') ? 'BBBBBB' : 'AAAAAA')
    tokens.push(forged)
    return forged
  }
  /** A connection that must authenticate: proves the case reached the token check and passed it. */
  async function accepted (what: string, target: string, opts: { token?: string, protocols?: string[] } = {}) {
    const c = new TestClient(target, opts)
    await c.opened
    t.ok((await c.next(isHello)).json.user.id, `${what}: authenticated`)
    return c
  }

  const open: TestClient[] = []
  open.push(await accepted('Authorization header', url, { token: tok('by-header') }))
  open.push(await accepted('subprotocol', url, { protocols: ['pixelwire.v1', `bearer.${tok('by-subprotocol')}`] }))
  open.push(await accepted('?token=', `${url}?token=${tok('by-query')}`))
  open.push(await accepted('?%74oken=', `${url}?%74oken=${tok('by-encoded-key')}`))
  open.push(await accepted('?tok%65n=', `${url}?canvas=main&tok%65n=${tok('by-encoded-key-2')}`))
  open.push(await accepted('percent-encoded value', `${url}?token=${encodeAll(tok('by-encoded-value'))}`))
  open.push(await accepted('both encoded', `${url}?%74%6f%6b%65%6e=${encodeAll(tok('by-encoded-both'))}`))

  // Refused ones are logged too: invalid, expired, repeated keys, bad query next to a token.
  const refusals: Array<[string, string, Record<string, string>?]> = [
    ['invalid signature in the query', `${url}?token=${bogus('forged-query')}`],
    ['invalid signature, encoded key', `${url}?%74oken=${bogus('forged-encoded')}`],
    ['invalid signature in the header', url, { authorization: `Bearer ${bogus('forged-header')}` }],
    ['wrong secret', `${url}?token=${tok('wrong-secret', { secret: 'another-secret-another-secret-another' })}`],
    ['expired', `${url}?tok%65n=${tok('expired', { ttlSec: -600 })}`],
    ['repeated key', `${url}?token=${tok('repeat-1')}&token=${tok('repeat-2')}`],
    ['repeated, one encoded', `${url}?token=${tok('repeat-3')}&%74oken=${tok('repeat-4')}`],
    ['bad canvas beside a token', `${url}?canvas=BAD!!&%74oken=${tok('bad-canvas')}`],
    ['unknown canvas beside a token', `${url}?canvas=nope&token=${encodeAll(tok('no-canvas'))}`]
  ]
  for (const [what, target, headers] of refusals) {
    const r = await handshake(target, headers === undefined ? {} : { headers })
    t.ok(r.status >= 400 && r.status < 500, `${what}: refused (${r.status})`)
  }
  const subprotocolBogus = await handshake(url, { protocols: ['pixelwire.v1', `bearer.${bogus('forged-subprotocol')}`] })
  t.equal(subprotocolBogus.status, 401, 'forged subprotocol token: 401')
  // Targets a ws client would rewrite: after a `#`, in absolute form.
  t.match(await rawUpgrade(server.port, `/ws#token=${tok('after-hash')}`), /^HTTP\/1\.1 /, '#token= answered')
  t.match(await rawUpgrade(server.port, `http://127.0.0.1:${server.port}/ws?token=${tok('absolute')}`), /^HTTP\/1\.1 /, 'absolute form answered')
  // And after the upgrade, as a replacement token.
  open[0].send(JSON.stringify({ type: 'auth', token: tok('replacement') }))
  await open[0].next((m) => m.json?.type === 'authenticated' || m.json?.type === 'error')

  for (const c of open) c.close()
  await Promise.all(open.map((c) => c.closed))
  t.same(await stop(server), { code: 0, signal: null }, 'the server exits cleanly')

  const all = server.out() + server.err()
  const lines = logLines(server.out())
  // 7 accepted, 9 refused, a forged subprotocol, 2 raw targets: every one was logged.
  t.ok(lines.filter((l) => l.msg === 'incoming request').length >= 19, 'every handshake has its request line')
  t.ok(lines.some((l) => l.msg === 'incoming request' && /token=\[redacted\]/.test(l.req?.url)), 'request lines show the token was redacted')
  for (const s of tokens) {
    const [, claims, sig] = s.split('.')
    const leaks = [s, claims, sig, encodeAll(s), encodeAll(sig), encodeAll(sig).toUpperCase()].filter((p) => all.includes(p))
    t.same(leaks, [], `token of ${JSON.parse(Buffer.from(claims, 'base64url').toString()).sub}: nowhere in the log`)
  }
})
