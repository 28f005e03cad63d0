// The server as a child process, killed with SIGKILL under a drawing page and
// restarted on the same port and DATA_DIR: the page says "reconnecting",
// keeps what is drawn meanwhile, comes back "live" by resuming, and nothing
// is lost.
import t from 'tap'
import { SECRET, TestClient, isHello, isSnapshot, parseSnapshot, tempDir, token } from '../helper.js'
import { startServer, stop } from '../process.js'
import { WAIT_MS, drag, launch, person, pixelAt, rgbOf, row, status, waitForPixels } from './helper.js'

const ORANGE = rgbOf('#ff4500') // key 3
const GREEN = rgbOf('#00cc78') // key 8
// Six boots of src/server.ts under tsx (the import graph compiled each time)
// plus a browser: 44-51 s (three copies at once) to 88 s (in a -j 2 run) at
// load 3-12 here, so over the 120 s per file of package.json at the load
// (~35) a full local run reaches.
t.setTimeout(360000)
// One browser for the file; each person gets a context of their own.
const browser = await launch(t)

t.test('kill -9 and restart: reconnecting, then live, nothing lost', async (t) => {
  const env = { DATA_DIR: tempDir(t), JWT_SECRET: SECRET, TICK_MS: '20' }
  const first = await startServer(t, env)
  const url = `http://127.0.0.1:${first.port}`
  const me = await person(t, browser, `${url}/#token=${token({ sub: 'kim', name: 'Kim' })}`)
  await status(me.page, 'live')

  await me.page.keyboard.press('3')
  await drag(me.page, [50, 50], [150, 50])
  // The page's canvas shows only what the server committed and sent back.
  await waitForPixels(me.page, row(50, 150, 50), ORANGE)

  const killed = await stop(first, 'SIGKILL')
  t.equal(killed.signal, 'SIGKILL')
  await status(me.page, 'reconnecting')
  t.pass('the page says reconnecting')

  // Drawn while the server is down: queued, shown as waiting.
  await me.page.keyboard.press('8')
  await drag(me.page, [50, 60], [150, 60])
  // (The readout refreshes once per tick: wait for it to count the whole stroke.)
  await me.page.waitForSelector('#queue:not([hidden]):text("101 pixels queued until reconnected")', { timeout: WAIT_MS })
  t.pass('the page shows the stroke as queued until reconnected')
  t.match(await me.page.textContent('#status'), /reconnecting/)

  const second = await startServer(t, { ...env, PORT: String(first.port) })
  t.equal(second.port, first.port, 'same port')
  await status(me.page, 'live', 60_000)
  t.pass('the page is live again')
  await waitForPixels(me.page, row(50, 150, 60), GREEN)
  await waitForPixels(me.page, row(50, 150, 50), ORANGE)
  t.pass('the queued stroke was sent after reconnecting, and the first one is still there')
  const resumed = me.sockets.slice(1).some((u) => /[?&]since=\d+/.test(u) && /[?&]epoch=/.test(u))
  t.ok(resumed, 'the reconnect resumed with since and epoch')
  t.notOk(me.sockets.some((u) => /token=/.test(u)), 'no token in any socket URL')

  // The server has them on disk: its pixel history says so, and a reload shows them.
  const hist = await (await fetch(`${url}/api/canvases/main/pixels/100/60`)).json() as { color: string, user: string }
  t.same([hist.color, hist.user], ['#00cc78', 'kim'])
  await me.page.reload()
  await status(me.page, 'live')
  await waitForPixels(me.page, row(50, 150, 60), GREEN)
  await waitForPixels(me.page, row(50, 150, 50), ORANGE)
  t.same(me.errors, [], 'no script errors')
  await stop(second)
})

t.test('a server back with another canvas (new epoch): the queue is discarded, and the page says so', async (t) => {
  const env = { DATA_DIR: tempDir(t), JWT_SECRET: SECRET, TICK_MS: '20' }
  const first = await startServer(t, env)
  const url = `http://127.0.0.1:${first.port}`
  const me = await person(t, browser, `${url}/#token=${token({ sub: 'kim', name: 'Kim' })}`)
  await status(me.page, 'live')
  await stop(first, 'SIGKILL')
  await status(me.page, 'reconnecting')
  const sentBefore = me.sentOps.length
  await me.page.keyboard.press('3')
  await drag(me.page, [50, 70], [59, 70])
  await me.page.waitForSelector('#queue:not([hidden]):text("10 pixels queued until reconnected")', { timeout: WAIT_MS })

  // Same port and secret, fresh DATA_DIR: the canvas main is created anew, with a new epoch.
  const second = await startServer(t, { ...env, DATA_DIR: tempDir(t), PORT: String(first.port) })
  await status(me.page, 'live', 60_000)
  await me.page.waitForSelector('.message:text("The canvas was reset while you were away: 10 queued pixels were discarded.")', { timeout: WAIT_MS })
  t.pass('the page says the queued pixels were discarded')
  t.ok(await me.page.isHidden('#queue'), 'nothing is queued any more')
  t.same(await pixelAt(me.page, 55, 70), [255, 255, 255], 'and they were not drawn')
  t.same(me.sentOps.slice(sentBefore).filter((op) => op <= 0x02), [], 'nor sent')
  await stop(second)
})

t.test('kill -9 between accept and commit: every pixel the page took is on the canvas, sent again, or reported not drawn', async (t) => {
  // A one-second tick: ops the server passed (pong) wait up to a second for
  // their commit, so the kill lands while some are accepted but not on disk.
  const env = { DATA_DIR: tempDir(t), JWT_SECRET: SECRET, TICK_MS: '1000' }
  const first = await startServer(t, env)
  const url = `http://127.0.0.1:${first.port}`
  const me = await person(t, browser, `${url}/#token=${token({ sub: 'kim', name: 'Kim' })}`)
  await status(me.page, 'live')
  await me.page.keyboard.press('3')
  const drawnPts: Array<[number, number]> = []
  for (let y = 80; y < 86; y++) {
    await drag(me.page, [40, y], [140, y], 4)
    drawnPts.push(...row(40, 140, y))
  }
  // Killed as soon as the server has passed (pong) every op: within the tick, so not all committed.
  await me.page.waitForFunction(() => {
    const d = (globalThis as any).pixelwire.draws()
    return d.queued === 0 && d.sent === 0
  }, undefined, { timeout: WAIT_MS, polling: 5 })
  await stop(first, 'SIGKILL')
  const second = await startServer(t, { ...env, PORT: String(first.port), TICK_MS: '20' })
  const missingAfterCrash = await missing(second.port, drawnPts)
  t.comment(`${missingAfterCrash.length} of ${drawnPts.length} drawn pixels were not on disk after the kill`)

  await status(me.page, 'live', 60_000)
  // Every pixel settled: none queued, sent, accepted and waiting for the barrier, or left from the dead connection.
  await me.page.waitForFunction(() => {
    const d = (globalThis as any).pixelwire.draws()
    return d.queued === 0 && d.sent === 0 && d.accepted === 0 && d.unsettled === 0
  }, undefined, { timeout: WAIT_MS, polling: 50 })
  const notDrawn = new Set((await me.page.evaluate(() => (globalThis as any).pixelwire.notDrawn ?? []) as Array<{ x: number, y: number }>).map((p) => `${p.x},${p.y}`))
  const lost = (await missing(second.port, drawnPts)).filter(([x, y]) => !notDrawn.has(`${x},${y}`))
  t.same(lost, [], 'every drawn pixel is on the server\'s canvas or was reported not drawn')
  t.equal(notDrawn.size, 0, 'none had to be reported: the server was back')
  await waitForPixels(me.page, drawnPts, ORANGE)
  t.pass('and the page shows them all')
  t.same(me.errors, [], 'no script errors')
  await stop(second)
})

/** Drawn pixels that the server's canvas (a SNAPSHOT over a real socket) does not show in orange. */
async function missing (port: number, pts: Array<[number, number]>): Promise<Array<[number, number]>> {
  const c = new TestClient(`ws://127.0.0.1:${port}/ws`, { token: token({ sub: 'checker', role: 'viewer' }) })
  try {
    await c.next(isHello)
    const snap = parseSnapshot((await c.next(isSnapshot)).bin!)
    return pts.filter(([x, y]) => snap.at(x, y).join() !== ORANGE.join())
  } finally {
    c.close()
  }
}
