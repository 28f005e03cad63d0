// WORKERS=2: one process tree of the built server serving one port with
// Node's cluster module, each worker a cluster node through a real
// redis-server of the test's own: clients land on both workers, see each
// other's stream messages, and SIGTERM to the primary stops them all.
import t from 'tap'
import { isHello, isSnapshot, isType, TestClient, token, SECRET, tempDir } from '../helper.js'
import { logLines, spawnProcess, stop } from '../process.js'
import { builtServer, freePort, startRedis, until } from './redis.js'

// Real processes (and, for the first cluster test file, compiling the
// server) on a loaded machine: more than the 120 s per file of package.json.
t.setTimeout(360000)

t.test('two workers on one port, joined through Redis', async (t) => {
  const redis = await startRedis(t)
  const entry = await builtServer(t)
  const port = await freePort()
  const env = { PORT: String(port), HOST: '127.0.0.1', DATA_DIR: tempDir(t), NODE_ID: 'box', JWT_SECRET: SECRET, REDIS_URL: redis.url, WORKERS: '2', SHUTDOWN_TIMEOUT_MS: '5000' }
  const proc = spawnProcess(t, process.execPath, [entry], env, { bare: true })
  await until(() => (proc.out().match(/Server listening at/g) ?? []).length === 2, 60000, 'both workers listening')

  // Connections are handed round-robin: a few land on each worker.
  const clients: Array<{ c: TestClient, node: string }> = []
  await until(async () => {
    const c = new TestClient(`ws://127.0.0.1:${port}/ws?canvas=main`, { token: token({ sub: `w${clients.length}` }) })
    await c.opened
    const hello = (await c.next(isHello, 10000)).json
    await c.next(isSnapshot, 10000)
    clients.push({ c, node: hello.node })
    return new Set(clients.map((x) => x.node)).size === 2
  }, 30000, 'clients on both workers')
  t.same([...new Set(clients.map((x) => x.node))].sort(), ['box-w1', 'box-w2'], 'each worker is a node of its own')

  const [one, other] = [clients.find((x) => x.node === 'box-w1')!, clients.find((x) => x.node === 'box-w2')!]
  for (const x of [one, other]) {
    x.c.send(JSON.stringify({ type: 'subscribe', stream: 'chat:w' }))
    await x.c.next(isType('subscribed'), 10000)
  }
  one.c.send(JSON.stringify({ type: 'publish', stream: 'chat:w', data: 'hi' }))
  t.equal((await other.c.next(isType('message'), 10000)).json.data, 'hi', 'a message published on one worker reaches the other')
  for (const x of clients) x.c.close()

  t.same(await stop(proc, 'SIGTERM', 20000), { code: 0, signal: null }, 'SIGTERM to the primary: every worker drains, exit 0')
  t.equal(logLines(proc.out()).filter((l) => l.msg === 'shutting down').length, 2, 'both workers shut down gracefully')
})
