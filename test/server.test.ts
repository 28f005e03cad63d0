// src/server.ts and src/cli/token.ts as real processes: configuration errors,
// the generated development secret, `npm run token`, and the graceful
// shutdown on SIGTERM / SIGINT. Plus the 503 a draining server answers.
import { existsSync, readFileSync, statSync } from 'node:fs'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import {
  tempDir, token, TestClient, SECRET, isHello, isSnapshot, isUpdates, isError,
  collect, pixel, stroke, parseSnapshot, parseUpdates, listen, handshake, type Msg
} from './helper.js'
import { run, startServer, stop, within, logLines, BOOT_MS } from './process.js'

const bounded = (c: TestClient, ms = 5000) => within(c.closed, ms, 'client close')

// Nine server processes booted under tsx: 112-121 s with three copies of
// this file at once at load ~12, at the 120 s per file of package.json.
t.setTimeout(360000)

t.test('a bad configuration stops boot with a clear message', async (t) => {
  const cases: Array<[string, string]> = [['TICK_MS', 'abc'], ['ANONYMOUS', 'maybe'], ['JWT_SECRET', 'short']]
  const results = await Promise.all(cases.map(async ([name, value]) => {
    const dataDir = tempDir(t)
    const p = run(t, ['src/server.ts'], { FASTIFY_AUTOLOAD_TYPESCRIPT: '1', PORT: '0', HOST: '127.0.0.1', DATA_DIR: dataDir, JWT_SECRET: SECRET, [name]: value })
    // The configuration is read only once tsx has loaded src/server.ts's whole
    // import graph (fastify, the app, every route): under load that alone took
    // 11-12 s for these three children at once. So the wall clock from spawn
    // measures the machine, not the server. What this test guards is that a
    // refused configuration ends the process (no half-built server left
    // running, no handle keeping it alive): time that from the moment the
    // child has said why, bounded generously enough to only catch a hang.
    // The wait for the exit itself is only a hang detector too: this case took
    // 18-21 s with six test files at once here, over the old 15 s.
    const said = new Promise<number>((resolve) => p.child.stderr!.once('data', () => resolve(Date.now())))
    const exit = await within(p.exited, 3 * BOOT_MS, `exit with ${name}=${value}`)
    const ms = Date.now() - await within(said, 1000, `stderr with ${name}=${value}`)
    return { name, value, exit, ms, out: p.out(), err: p.err(), dataDir }
  }))
  for (const r of results) {
    t.same(r.exit, { code: 1, signal: null }, `${r.name}=${r.value}: exit code 1`)
    t.ok(r.ms < 10000, `${r.name}=${r.value}: exited within a few seconds of its message (${r.ms} ms)`)
    t.match(r.err, new RegExp(`^invalid configuration: .*\\b${r.name}\\b`), `${r.name}=${r.value}: stderr names ${r.name}`)
    t.notMatch(r.err, /^\s+at /m, `${r.name}=${r.value}: a message, not a stack trace`)
    t.equal(r.out, '', `${r.name}=${r.value}: nothing on stdout (never listened)`)
  }
  // A bad JWT_SECRET is refused, not replaced by a generated one.
  const short = results.find((r) => r.name === 'JWT_SECRET')!
  t.throws(() => statSync(join(short.dataDir, 'jwt-secret')), { code: 'ENOENT' }, 'no dev secret generated for a bad JWT_SECRET')
})

t.test('without JWT_SECRET a dev secret is generated into DATA_DIR and reused', async (t) => {
  const dataDir = tempDir(t)
  const file = join(dataDir, 'jwt-secret')

  const first = await startServer(t, { DATA_DIR: dataDir })
  t.equal(statSync(file).mode & 0o777, 0o600, 'jwt-secret has mode 0600')
  const secret = readFileSync(file, 'utf8').trim()
  t.match(secret, /^[0-9a-f]{64}$/, '32 random bytes, hex')
  const warn = logLines(first.out()).filter((l) => l.level === 40 && /JWT_SECRET/.test(l.msg))
  t.equal(warn.length, 1, 'one warn-level line mentions JWT_SECRET')
  t.match(warn[0]?.msg, dataDir, 'and says where the secret is')
  t.same(await stop(first), { code: 0, signal: null }, 'first server exits cleanly')

  const second = await startServer(t, { DATA_DIR: dataDir })
  t.equal(readFileSync(file, 'utf8').trim(), secret, 'the second boot kept the file')
  t.equal(logLines(second.out()).filter((l) => l.level === 40 && /JWT_SECRET/.test(l.msg)).length, 1, 'and warns again')

  const c = new TestClient(second.ws, { token: token({ sub: 'x' }, { secret }) })
  await c.opened
  const hello = (await c.next(isHello)).json
  t.same(hello.user, { id: 'x', name: 'x', role: 'painter' }, 'a token signed with the file secret is accepted')
  c.close()
  await bounded(c)

  // ...and only that secret: the test suite's fixed one is refused.
  const other = await handshake(second.ws, { headers: { authorization: `Bearer ${token({ sub: 'x' })}` } })
  t.equal(other.status, 401, 'a token signed with another secret is refused')

  t.same(await stop(second), { code: 0, signal: null }, 'second server exits cleanly')
  for (const [name, p] of [['first', first], ['second', second]] as const) {
    t.notOk(p.out().includes(secret), `${name}: the secret is not on stdout`)
    t.notOk(p.err().includes(secret), `${name}: the secret is not on stderr`)
  }
})

t.test('npm run token signs with the generated secret', async (t) => {
  const dataDir = tempDir(t)
  const server = await startServer(t, { DATA_DIR: dataDir })

  const before = Math.floor(Date.now() / 1000)
  const tok = run(t, ['src/cli/token.ts', '--sub', 'alice', '--role', 'admin', '--ttl', '1h'], { DATA_DIR: dataDir })
  t.same(await within(tok.exited, 15000, 'token script'), { code: 0, signal: null }, 'token script exits 0')
  const jwt = tok.out().trim()
  t.match(jwt, /^[\w-]+\.[\w-]+\.[\w-]+$/, 'stdout is one JWT')
  t.equal(tok.err(), '', 'nothing on stderr')

  const [header, payload] = jwt.split('.').slice(0, 2).map((p) => JSON.parse(Buffer.from(p, 'base64url').toString()))
  t.equal(header.alg, 'HS256', 'HS256')
  t.equal(payload.sub, 'alice')
  t.equal(payload.role, 'admin')
  t.notOk('name' in payload, 'no name claim unless --name')
  t.equal(payload.exp - payload.iat, 3600, '--ttl 1h: exp - iat = 3600')
  t.ok(payload.iat >= before - 1 && payload.iat <= Math.floor(Date.now() / 1000) + 1, 'iat is now')

  const c = new TestClient(server.ws, { token: jwt })
  await c.opened
  const hello = (await c.next(isHello)).json
  t.same(hello.user, { id: 'alice', name: 'alice', role: 'admin' }, 'the server accepts it: alice, admin')
  c.close()
  await bounded(c)

  const bad = [
    { args: ['--sub', 'alice', '--role', 'root'], says: /^token: --role must be viewer, painter or admin$/m },
    { args: ['--role', 'admin'], says: /^token: --sub is required$/m }
  ]
  for (const { args, says } of bad) {
    const p = run(t, ['src/cli/token.ts', ...args], { DATA_DIR: dataDir })
    t.same(await within(p.exited, 15000, 'token script'), { code: 1, signal: null }, `${args.join(' ')}: exit 1`)
    t.match(p.err(), says, `${args.join(' ')}: says why on stderr`)
    t.equal(p.out(), '', `${args.join(' ')}: no token on stdout`)
  }
  t.same(await stop(server), { code: 0, signal: null }, 'server exits cleanly')
})

/**
 * Paint `pts` so that they are still in the pending batch: right after a
 * tick (seen as the UPDATES of a warm-up pixel), then wait for the answer to
 * a probe sent behind them, which proves the server has read them.
 */
async function paintPending (painter: TestClient, watcher: TestClient, pts: Array<[number, number, number, number, number]>) {
  painter.send(pixel(0, 0, 9, 9, 9))
  const warm = await collect(watcher, 1, 5000)
  if (painter !== watcher) await collect(painter, 1, 5000)
  painter.send(stroke(pts))
  painter.send(pixel(60000, 60000, 1, 1, 1)) // OUT_OF_BOUNDS: answered in order, after the stroke was queued
  await painter.next(isError('OUT_OF_BOUNDS'), 2000)
  return warm.seq
}

/** The UPDATES a client got, decoded, in order. */
const updatesIn = (msgs: Msg[]) => msgs.filter(isUpdates).map((m) => parseUpdates(m.bin as Buffer))

async function joinCanvas (t: Test, ws: string, sub: string, role: string) {
  const c = new TestClient(ws, { token: token({ sub, role }) })
  await c.opened
  const hello = (await c.next(isHello)).json
  await c.next(isSnapshot, 5000)
  t.teardown(() => c.ws.terminate())
  return { c, hello }
}

t.test('SIGTERM: the pending batch is committed and shown, clients get 1001, exit 0', async (t) => {
  const dataDir = tempDir(t)
  const env = { DATA_DIR: dataDir, JWT_SECRET: SECRET, TICK_MS: '1000', SHUTDOWN_TIMEOUT_MS: '5000' }
  const server = await startServer(t, env)
  const { c: painter } = await joinCanvas(t, server.ws, 'painter', 'painter')
  const { c: viewer, hello } = await joinCanvas(t, server.ws, 'viewer', 'viewer')

  const pts: Array<[number, number, number, number, number]> = [[10, 20, 255, 0, 0], [11, 20, 0, 255, 0], [12, 20, 0, 0, 255], [1023, 1023, 1, 2, 3]]
  const warmSeq = await paintPending(painter, viewer, pts)
  t.equal(warmSeq, hello.canvas.seq + 1, 'the warm-up pixel committed')
  t.equal(updatesIn(viewer.msgs).length, 0, 'the stroke is still pending when the signal goes out')

  const signalled = Date.now()
  server.child.kill('SIGTERM')
  const [pc, vc] = await Promise.all([bounded(painter, 6000), bounded(viewer, 6000)])
  t.equal(pc.code, 1001, 'painter closed with 1001')
  t.equal(vc.code, 1001, 'viewer closed with 1001')
  // ws emits every message before 'close': what is in msgs now arrived before the close frame.
  for (const [name, c] of [['painter', painter], ['viewer', viewer]] as const) {
    const u = updatesIn(c.msgs)
    t.equal(u.length, 1, `${name}: one UPDATES before the close`)
    t.same(u[0]?.px, pts, `${name}: it carries the pending stroke`)
    t.equal(u[0]?.seq, warmSeq + pts.length, `${name}: at seq ${warmSeq + pts.length}`)
  }
  t.same(await within(server.exited, 5000, 'exit after SIGTERM'), { code: 0, signal: null }, 'exit code 0')
  const ms = Date.now() - signalled
  t.ok(ms < 5000, `exited within SHUTDOWN_TIMEOUT_MS (${ms} ms)`)
  t.ok(logLines(server.out()).some((l) => l.msg === 'shutting down' && l.signal === 'SIGTERM'), 'logged the signal')
  t.equal(server.err(), '', 'nothing on stderr')
  const wal = join(dataDir, 'pixelwire.db-wal')
  t.ok(!existsSync(wal) || statSync(wal).size === 0, 'the WAL was checkpointed into the database')

  const again = await startServer(t, env)
  const late = new TestClient(again.ws, { token: token({ sub: 'late', role: 'viewer' }) })
  t.teardown(() => late.ws.terminate())
  await late.opened
  const h2 = (await late.next(isHello)).json
  t.equal(h2.canvas.epoch, hello.canvas.epoch, 'same epoch after the restart')
  t.equal(h2.canvas.seq, warmSeq + pts.length, 'same seq after the restart')
  const snap = parseSnapshot((await late.next(isSnapshot, 5000)).bin as Buffer)
  t.equal(snap.seq, warmSeq + pts.length, 'snapshot at that seq')
  t.same(pts.map(([x, y]) => snap.at(x, y)), pts.map(([, , r, g, b]) => [r, g, b]), 'the stroke is in the snapshot')
  t.same(snap.at(0, 0), [9, 9, 9], 'and the warm-up pixel')
  late.close()
  await bounded(late)
  t.same(await stop(again), { code: 0, signal: null })
})

t.test('SIGINT shuts down the same way', async (t) => {
  const dataDir = tempDir(t)
  const server = await startServer(t, { DATA_DIR: dataDir, JWT_SECRET: SECRET, TICK_MS: '1000', SHUTDOWN_TIMEOUT_MS: '5000' })
  const { c: painter } = await joinCanvas(t, server.ws, 'painter', 'painter')
  const pts: Array<[number, number, number, number, number]> = [[5, 5, 200, 100, 50]]
  const warmSeq = await paintPending(painter, painter, pts)
  t.equal(updatesIn(painter.msgs).length, 0, 'the pixel is still pending when the signal goes out')

  const signalled = Date.now()
  server.child.kill('SIGINT')
  t.equal((await bounded(painter, 6000)).code, 1001, 'closed with 1001')
  const u = updatesIn(painter.msgs)
  t.same(u.map((x) => [x.seq, x.px]), [[warmSeq + 1, pts]], 'the pending pixel arrived before the close')
  t.same(await within(server.exited, 5000, 'exit after SIGINT'), { code: 0, signal: null }, 'exit code 0')
  t.ok(Date.now() - signalled < 5000, 'within SHUTDOWN_TIMEOUT_MS')
  t.ok(logLines(server.out()).some((l) => l.msg === 'shutting down' && l.signal === 'SIGINT'), 'logged the signal')
})

t.test('a draining server answers new handshakes 503', async (t) => {
  const srv = await listen(t)
  const auth = { authorization: `Bearer ${token({ sub: 'd' })}` }
  const existing = new TestClient(srv.wsUrl, { headers: auth })
  t.teardown(() => existing.ws.terminate())
  await existing.opened
  await existing.next(isHello)

  srv.app.connections.startDraining()
  t.equal(srv.app.connections.draining, true)
  const res = await within(handshake(srv.wsUrl, { headers: auth }), 5000, 'handshake')
  t.equal(res.status, 503, '503 while draining')
  t.equal(res.headers['retry-after'], '5', 'with Retry-After')
  t.match(res.headers['content-type'], /^application\/json/)
  t.same(JSON.parse(res.body), { error: 'UNAVAILABLE', message: 'server is draining' }, 'JSON error body')

  // Draining is checked first: even a request that would fail later gets 503.
  const anon = await within(handshake(srv.wsUrl), 5000, 'handshake')
  t.equal(anon.status, 503, 'no token: still 503, not 401')

  t.equal(existing.ws.readyState, existing.ws.OPEN, 'connections already open are left alone')
  existing.close()
  await bounded(existing)
})
