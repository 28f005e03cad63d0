// Two real servers on one DATA_DIR: the second refuses to start, naming the
// first, and the first keeps committing; after the first is killed with
// SIGKILL (its lock file left behind) the next start is not blocked. The
// main database stays readable by another process the whole time.
import { hostname } from 'node:os'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import t from 'tap'
import { tempDir, token, TestClient, isHello, isSnapshot, SECRET, pixel, collect } from './helper.js'
import { run, startServer, stop, within, logLines } from './process.js'

t.test('a second server on the same DATA_DIR exits 1 naming the holder; the first is unharmed', async (t) => {
  const dataDir = tempDir(t)
  const env = { DATA_DIR: dataDir, JWT_SECRET: SECRET, TICK_MS: '20' }
  const first = await startServer(t, env)
  const painter = new TestClient(first.ws, { token: token({ sub: 'p' }) })
  t.teardown(() => painter.ws.terminate())
  await painter.opened
  const { epoch } = (await painter.next(isHello)).json.canvas
  await painter.next(isSnapshot)
  painter.send(pixel(1, 1, 10, 20, 30))
  const before = await collect(painter, 1)

  const second = run(t, ['src/server.ts'], { FASTIFY_AUTOLOAD_TYPESCRIPT: '1', PORT: '0', HOST: '127.0.0.1', ...env })
  t.same(await within(second.exited, 15000, 'second server exit'), { code: 1, signal: null }, 'the second server exits 1')
  const refusal = logLines(second.out()).find((l) => /^could not start/.test(l.msg))
  t.ok(refusal, 'and logs why')
  t.match(refusal?.msg, `DATA_DIR ${dataDir} is in use by another pixelwire server (pid ${first.child.pid} on host ${hostname()}, started `, 'naming the holder: pid, host')
  t.ok(Date.parse(refusal?.err?.holder?.startedAt) <= Date.now(), 'and its start time')
  t.notOk(logLines(second.out()).some((l) => /listening/.test(l.msg)), 'it never listened')

  // The first one still commits and broadcasts, seq continuing.
  painter.send(pixel(2, 2, 40, 50, 60))
  const after = await collect(painter, 1, 5000)
  t.equal(after.seq, before.seq + 1, 'the first server committed the next pixel')
  t.same(after.px, [[2, 2, 40, 50, 60]])

  // Another process reads the live WAL database (the sqlite3 CLI, a backup).
  const reader = new Database(join(dataDir, 'pixelwire.db'), { readonly: true, fileMustExist: true })
  const rows = reader.prepare('SELECT count(*) AS n FROM sqlite_master').get() as { n: number }
  reader.close()
  t.ok(rows.n > 0, 'the main database is readable by another process while the server runs')

  // kill -9 leaves the lock file behind, not the lock.
  t.equal((await stop(first, 'SIGKILL')).signal, 'SIGKILL')
  const third = await startServer(t, env)
  const late = new TestClient(third.ws, { token: token({ sub: 'late', role: 'viewer' }) })
  t.teardown(() => late.ws.terminate())
  await late.opened
  const hello = (await late.next(isHello)).json
  t.equal(hello.canvas.epoch, epoch, 'the next server starts on the same canvas')
  t.equal(hello.canvas.seq, after.seq, 'with every committed change')
  late.close()
  t.same(await stop(third), { code: 0, signal: null }, 'and exits cleanly')
})
