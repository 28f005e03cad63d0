// The drawing client's limits in a real browser: a viewer cannot draw; the
// rate limit shows as a cooldown (the client's own pacing and a refusal by
// the server) and never drops pixels.
import t from 'tap'
import { listen, token, TestClient, isHello, isSnapshot, stroke } from '../helper.js'
import { WAIT_MS, drag, launch, person, pixelAt, rgbOf, row, screenOf, screenshot, status, waitForPixels } from './helper.js'

const ORANGE = rgbOf('#ff4500') // key 3
// One browser for the file; each person gets a context of their own.
const browser = await launch(t)

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
