// The drawing client's limits in a real browser: first paint of the default
// canvas, a viewer cannot draw, the rate limit shows as a cooldown (the
// client's own pacing and a refusal by the server) and never drops pixels.
import t from 'tap'
import { listen, token, TestClient, isHello, isSnapshot, stroke } from '../helper.js'
import { WAIT_MS, drag, launch, person, pixelAt, rgbOf, row, screenOf, screenshot, status, waitForPixels } from './helper.js'

const ORANGE = rgbOf('#ff4500') // key 3
// One browser for the file; each person gets a context of their own.
const browser = await launch(t)

t.test('first paint of a 1024x1024 canvas, signed in by #token=', async (t) => {
  const { url } = await listen(t)
  const me = await person(t, browser, `${url}/#token=${token({ sub: 'kiosk', name: 'Kiosk' })}`)
  await status(me.page, 'live')
  t.equal(await me.page.evaluate(() => (globalThis as any).location.hash), '', 'the token left the address bar')
  t.notOk(await me.page.isVisible('#signin'), 'no sign-in dialog')
  const [paint, size] = await me.page.evaluate(() => {
    const g = globalThis as any
    return [g.performance.getEntriesByName('pixelwire:first-paint')[0].startTime, [g.pixelwire.board.width, g.pixelwire.board.height]]
  })
  t.same(size, [1024, 1024])
  t.comment(`first paint ${Math.round(paint)} ms after navigation start`)
  t.ok(paint < 3000, `first paint within 3 s on a busy machine (${Math.round(paint)} ms)`)
})

t.test('a viewer sees the canvas read-only and sends nothing', async (t) => {
  const { url, wsUrl } = await listen(t, { TICK_MS: '20' })
  const viewer = await person(t, browser, `${url}/#token=${token({ sub: 'v', name: 'Vera', role: 'viewer' })}`)
  await status(viewer.page, 'live')
  t.match(await viewer.page.textContent('#user'), /Vera \(view only\)/)
  t.ok(await viewer.page.isDisabled('.tool[data-tool="pencil"]'), 'pencil disabled')
  t.ok(await viewer.page.isDisabled('.tool[data-tool="rect"]'), 'rect disabled')
  t.ok(await viewer.page.isDisabled('.swatch'), 'palette disabled')
  t.ok(await viewer.page.isEnabled('.tool[data-tool="pan"]'), 'pan still works')
  const before = await viewer.page.evaluate(() => ({ ...(globalThis as any).pixelwire.board.view }))
  await viewer.page.keyboard.press('3')
  await drag(viewer.page, [100, 100], [300, 100])
  await viewer.page.mouse.click(...Object.values(await screenOf(viewer.page, 150, 150)) as [number, number])
  const after = await viewer.page.evaluate(() => ({ ...(globalThis as any).pixelwire.board.view }))
  t.not(after.ox, before.ox, 'a drag pans instead of drawing')

  // A painter's pixel still reaches the viewer, so the socket is live; the viewer sent no draw op.
  const painter = new TestClient(wsUrl, { token: token({ sub: 'p' }) })
  t.teardown(() => painter.close())
  await painter.next(isHello)
  await painter.next(isSnapshot)
  painter.send(stroke([[5, 5, 1, 2, 3]]))
  await waitForPixels(viewer.page, [[5, 5]], [1, 2, 3])
  t.same(viewer.sentOps.filter((op) => op <= 0x02), [], 'no PIXEL, PIXELS or RECT left the page')
  t.same(await pixelAt(viewer.page, 150, 100), [255, 255, 255], 'the viewer\'s drag painted nothing')
  t.equal(await viewer.page.locator('.message.error').count(), 0, 'and got no error for trying')
})

t.test('a burst over the rate limit shows a cooldown, and the queue drains', async (t) => {
  const { url } = await listen(t, { TICK_MS: '20', PIXEL_RATE: '20', PIXEL_BURST: '20' })
  const me = await person(t, browser, `${url}/#token=${token({ sub: 'burst', name: 'Burst' })}`)
  await status(me.page, 'live')
  await me.page.keyboard.press('3')
  await drag(me.page, [100, 100], [159, 100], 20)
  await me.page.waitForSelector('#cooldown:not([hidden])', { timeout: WAIT_MS })
  t.match(await me.page.textContent('#cooldown'), /Cooldown \d+\.\d s · \d+ pixels waiting/)
  await screenshot(t, me.page, 'cooldown.png')
  // 60 pixels at 20/s with a bucket of 20: all land within a few seconds, none refused.
  await waitForPixels(me.page, row(100, 159, 100), ORANGE)
  await me.page.waitForSelector('#cooldown[hidden]', { timeout: WAIT_MS, state: 'attached' })
  t.pass('every pixel of the burst arrived, after the cooldown')
})

t.test('a refusal by the server (the bucket is per user) shows in words and as a cooldown', async (t) => {
  const { url, wsUrl } = await listen(t, { TICK_MS: '20', PIXEL_RATE: '1', PIXEL_BURST: '20' })
  const me = await person(t, browser, `${url}/#token=${token({ sub: 'burst', name: 'Burst' })}`)
  await status(me.page, 'live')
  // Another connection of the same user empties the bucket the page cannot see.
  const twin = new TestClient(wsUrl, { token: token({ sub: 'burst' }) })
  t.teardown(() => twin.close())
  await twin.next(isHello)
  await twin.next(isSnapshot)
  twin.send(stroke(Array.from({ length: 20 }, (_, i) => [i, 500, 0, 0, 0] as [number, number, number, number, number])))
  await waitForPixels(me.page, [[19, 500]], [0, 0, 0])
  await me.page.keyboard.press('3')
  await drag(me.page, [100, 200], [104, 200])
  await me.page.waitForSelector('.message.warn', { timeout: WAIT_MS })
  t.match(await me.page.textContent('#messages'), /rate limit.*sent again in \d+\.\d s/, 'the refusal is shown in words')
  await me.page.waitForSelector('#cooldown:not([hidden])', { timeout: WAIT_MS })
  t.match(await me.page.textContent('#cooldown'), /Cooldown \d+\.\d s/, 'and as a cooldown')
  // The refused pixels were not dropped: they go again after the cooldown.
  await waitForPixels(me.page, row(100, 104, 200), ORANGE)
  t.pass('the refused pixels landed after the cooldown')
})

t.test('without a token: sign in by pasting a JWT; anonymous viewers where allowed', async (t) => {
  const { url } = await listen(t)
  const me = await person(t, browser, `${url}/`)
  await me.page.waitForSelector('#signin[open]', { timeout: WAIT_MS })
  await status(me.page, 'offline')
  t.match(await me.page.textContent('#status'), /offline: Sign in to see the canvas/)
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
  t.ok(await anon.page.isVisible('#signin'), 'the canvas is live behind the sign-in dialog')
  await anon.page.click('#watch-button')
  t.match(await anon.page.textContent('#user'), /anonymous \(view only\)/)
  t.ok(await anon.page.isDisabled('.tool[data-tool="pencil"]'), 'read-only')
})

t.test('rendering keeps up with thousands of incoming pixels a second', async (t) => {
  const { url, wsUrl } = await listen(t)
  const me = await person(t, browser, `${url}/#token=${token({ sub: 'watcher', role: 'viewer' })}`)
  await status(me.page, 'live')
  const admin = new TestClient(wsUrl, { token: token({ sub: 'ops', role: 'admin' }) })
  t.teardown(() => admin.close())
  await admin.next(isHello)
  await admin.next(isSnapshot)
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
