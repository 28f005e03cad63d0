// The page itself in a real browser: first paint of the default canvas,
// signing in by #token= and by a pasted JWT, anonymous viewers, and
// rendering that keeps up with a flood of pixels.
import t from 'tap'
import { listen, token, TestClient, isHello, isSnapshot, stroke } from '../helper.js'
import { WAIT_MS, launch, person, status, type Person } from './helper.js'

// One browser for the file; each person gets a context of their own.
const browser = await launch(t)

t.test('first paint of a 1024x1024 canvas, signed in by #token=', async (t) => {
  const { url } = await listen(t)
  const me = await person(t, browser, `${url}/#token=${token({ sub: 'kiosk', name: 'Kiosk' })}`)
  await status(me.page, 'live')
  t.notMatch(await me.page.evaluate(() => (globalThis as any).location.hash), /token/, 'the token left the address bar (the place may be there)')
  t.notOk(await me.page.isVisible('#signin'), 'no sign-in dialog')
  const [paint, size] = await me.page.evaluate(() => {
    const g = globalThis as any
    return [g.performance.getEntriesByName('pixelwire:first-paint')[0].startTime, [g.pixelwire.board.width, g.pixelwire.board.height]]
  })
  t.same(size, [1024, 1024])
  t.comment(`first paint ${Math.round(paint)} ms after navigation start`)
  t.ok(paint < 3000, `first paint within 3 s on a busy machine (${Math.round(paint)} ms)`)
})

t.test('without a token: sign in by pasting a JWT; anonymous viewers where allowed', async (t) => {
  const { url } = await listen(t)
  const me = await person(t, browser, `${url}/`)
  await status(me.page, 'watching')
  t.notOk(await me.page.isVisible('#signin'), 'no dialog until the visitor draws or asks')
  await me.page.click('#signin-button')
  await me.page.waitForSelector('#signin[open]', { timeout: WAIT_MS })
  await me.page.fill('#token-input', 'not-a-jwt')
  await me.page.click('#token-form button[type=submit]')
  t.match(await me.page.textContent('#signin-error'), /not a JWT/)
  await me.page.fill('#token-input', token({ sub: 'paste', name: 'Pasted' }))
  await me.page.click('#token-form button[type=submit]')
  await status(me.page, 'live')
  t.match(await me.page.textContent('#user'), /Pasted \(painter\)/)
  t.notOk(await me.page.isVisible('#signin'), 'the dialog closed')

  const open = await listen(t, { ANONYMOUS: 'read' })
  const anon = await person(t, browser, `${open.url}/`)
  await status(anon.page, 'live')
  t.match(await anon.page.textContent('#user'), /not signed in/)
  const viewer = await person(t, browser, `${open.url}/#token=${token({ sub: 'v', name: 'Vera', role: 'viewer' })}`)
  await status(viewer.page, 'live')
  t.match(await viewer.page.textContent('#user'), /Vera \(view only\)/)
  t.ok(await viewer.page.isDisabled('.tool[data-tool="pencil"]'), 'a viewer token is read-only')
})

/** A live viewer page, and an admin client (exempt from the budget) to flood the canvas. */
async function watcherAndAdmin (t: Tap): Promise<{ me: Person, admin: TestClient }> {
  const { url, wsUrl } = await listen(t)
  const me = await person(t, browser, `${url}/#token=${token({ sub: 'watcher', role: 'viewer' })}`)
  await status(me.page, 'live')
  const admin = new TestClient(wsUrl, { token: token({ sub: 'ops', role: 'admin' }) })
  t.teardown(() => admin.close())
  await admin.next(isHello)
  await admin.next(isSnapshot)
  return { me, admin }
}
type Tap = { teardown (fn: () => unknown): void, comment (...args: unknown[]): void }

t.test('rendering keeps up with thousands of incoming pixels a second', async (t) => {
  const { me, admin } = await watcherAndAdmin(t)
  await me.page.evaluate(() => {
    const g = globalThis as any
    g.frames = 0
    const count = () => { g.frames++; g.requestAnimationFrame(count) }
    g.requestAnimationFrame(count)
  })

  // 10,000 pixels over about two seconds, scattered over the whole canvas.
  const last = new Map<number, [number, number, number, number, number]>()
  let seed = 7
  const rand = (n: number) => { seed = (seed * 1103515245 + 12345) % 2147483648; return seed % n }
  const started = Date.now()
  for (let batch = 0; batch < 20; batch++) {
    const pts = Array.from({ length: 500 }, () => [rand(1024), rand(1024), rand(256), rand(256), rand(256)] as [number, number, number, number, number])
    for (const p of pts) last.set(p[1] * 1024 + p[0], p)
    admin.send(stroke(pts))
    await new Promise((resolve) => setTimeout(resolve, 100)) // pacing, not a wait for a result
  }
  const sentAll = Date.now()
  const expected = [...last.values()]
  await me.page.waitForFunction((pts) => {
    const pw = (globalThis as any).pixelwire
    return (pts as number[][]).every(([x, y, r, g, b]) => {
      const p = pw.pixel(x, y)
      return p[0] === r && p[1] === g && p[2] === b
    })
  }, expected, { timeout: WAIT_MS, polling: 100 })
  const caughtUp = Date.now()
  const frames = await me.page.evaluate(() => (globalThis as any).frames)
  const fps = frames / ((caughtUp - started) / 1000)
  t.comment(`10,000 pixels in ${sentAll - started} ms; the page showed them all ${caughtUp - sentAll} ms after the last was sent; ${fps.toFixed(0)} frames/s meanwhile`)
  t.ok(caughtUp - sentAll < 10_000, 'the page caught up')
  t.ok(fps > 10, `the page kept painting (${fps.toFixed(0)} frames/s)`)
})

t.test('frame time at 10,000 incoming pixels a second (a figure, not an assertion)', async (t) => {
  const { me, admin } = await watcherAndAdmin(t)
  // Each paint's own cost, and the interval between animation frames, in the fit view (the mip path).
  await me.page.evaluate(() => {
    const g = globalThis as any
    const board = g.pixelwire.board
    g.paints = []
    g.intervals = []
    const paint = board.paint.bind(board)
    board.paint = () => { const t0 = g.performance.now(); paint(); g.paints.push(g.performance.now() - t0) }
    let last = g.performance.now()
    const frame = (now: number) => { g.intervals.push(now - last); last = now; g.requestAnimationFrame(frame) }
    g.requestAnimationFrame(frame)
  })
  let seed = 11
  const rand = (n: number) => { seed = (seed * 1103515245 + 12345) % 2147483648; return seed % n }
  const started = Date.now()
  let sent = 0
  while (Date.now() - started < 3000) {
    // Pacing: whatever 10,000 px/s owes by now, in strokes of at most 1,000.
    const due = Math.min(1000, Math.floor((Date.now() - started) * 10) - sent)
    if (due > 0) {
      admin.send(stroke(Array.from({ length: due }, () => [rand(1024), rand(1024), rand(256), rand(256), rand(256)] as [number, number, number, number, number])))
      sent += due
    }
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
  const rate = sent / ((Date.now() - started) / 1000)
  await new Promise((resolve) => setTimeout(resolve, 300))
  const { paints, intervals } = await me.page.evaluate(() => ({ paints: (globalThis as any).paints, intervals: (globalThis as any).intervals })) as { paints: number[], intervals: number[] }
  const q = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(p * xs.length))] ?? 0
  t.comment(`${Math.round(rate)} px/s incoming for 3 s: ${paints.length} paints, paint p50 ${q(paints, 0.5).toFixed(1)} ms, p95 ${q(paints, 0.95).toFixed(1)} ms, max ${Math.max(...paints).toFixed(1)} ms; frame interval p50 ${q(intervals, 0.5).toFixed(1)} ms, p95 ${q(intervals, 0.95).toFixed(1)} ms`)
  t.ok(paints.length > 0, 'the page painted')
})
