// The server as a child process, killed with SIGKILL right after clients saw
// their UPDATES: after a restart on the same DATA_DIR every pixel any client
// was shown is there, and seq continues.
import t from 'tap'
import { tempDir, token, TestClient, isHello, isSnapshot, isUpdates, parseSnapshot, parseUpdates, SECRET, pixel, collect } from './helper.js'
import { startServer, stop } from './process.js'

t.test('kill -9 loses nothing a client was shown', async (t) => {
  const dataDir = tempDir(t)
  const env = { DATA_DIR: dataDir, JWT_SECRET: SECRET, TICK_MS: '20', SNAPSHOT_EVERY: '300' }
  const first = await startServer(t, env)
  const ws = first.ws
  const painter = new TestClient(ws, { token: token({ sub: 'p' }) })
  const watcher = new TestClient(ws, { token: token({ sub: 'w', role: 'viewer' }) })
  await Promise.all([painter.opened, watcher.opened])
  const { epoch } = (await watcher.next(isHello)).json.canvas
  await watcher.next(isSnapshot)

  // Paint unique coordinates continuously; kill the server the moment the
  // watcher has been shown 1,000 pixels, while the painter is still sending.
  const shown = new Map<string, number[]>()
  let lastSeq = 0
  let i = 0
  const paint = setInterval(() => {
    for (let k = 0; k < 50; k++, i++) painter.send(pixel(i % 1000, Math.floor(i / 1000), i % 251, (i * 7) % 256, 42))
  }, 5)
  t.teardown(() => clearInterval(paint))
  while (shown.size < 1000) {
    const u = parseUpdates((await watcher.next(isUpdates, 5000)).bin as Buffer)
    for (const [x, y, r, g, b] of u.px) shown.set(`${x},${y}`, [r, g, b])
    lastSeq = u.seq
  }
  const killed = await stop(first, 'SIGKILL')
  clearInterval(paint)
  t.equal(killed.signal, 'SIGKILL')

  const second = await startServer(t, env)
  const ws2 = second.ws
  const late = new TestClient(ws2, { token: token({ sub: 'late', role: 'viewer' }) })
  await late.opened
  const hello = (await late.next(isHello)).json
  t.equal(hello.canvas.epoch, epoch, 'same canvas, same epoch')
  t.ok(hello.canvas.seq >= lastSeq, `seq ${hello.canvas.seq} >= last shown ${lastSeq}`)
  const snap = parseSnapshot((await late.next(isSnapshot)).bin as Buffer)
  let missing = 0
  for (const [key, rgb] of shown) {
    const [x, y] = key.split(',').map(Number)
    if (JSON.stringify(snap.at(x, y)) !== JSON.stringify(rgb)) missing++
  }
  t.equal(missing, 0, `all ${shown.size} shown pixels survived`)

  // A client resuming from what it was shown gets a replay of the rest, and seq continues.
  const resumed = new TestClient(`${ws2}?since=${lastSeq}&epoch=${encodeURIComponent(epoch)}`, { token: token({ sub: 'p' }) })
  await resumed.opened
  t.equal((await resumed.next(isHello)).json.resume, 'replay')
  if (hello.canvas.seq > lastSeq) await collect(resumed, hello.canvas.seq - lastSeq)
  resumed.send(pixel(1023, 1023, 1, 2, 3))
  const next = await collect(resumed, 1)
  t.equal(next.seq, hello.canvas.seq + 1, 'seq continues after the restart')
  painter.close(); watcher.close(); late.close(); resumed.close()
})
