// Where the page is and what it says about the canvas: a link to a place
// (#x,y,zoom) honoured on load and kept up to date, the canvas name and a
// picker of the others, the r/place-style budget from hello.limits, and
// "who placed this" with the painter's display name.
import t from 'tap'
import { listen, token, TestClient, isHello, isSnapshot, isUpdates, stroke } from '../helper.js'
import { WAIT_MS, drag, joinAsGuest, launch, person, rgbOf, row, screenOf, status, waitForPixels } from './helper.js'

const browser = await launch(t)
const view = (page: import('playwright-core').Page) => page.evaluate(() => (globalThis as any).pixelwire.board.place()) as Promise<{ x: number, y: number, zoom: number }>
const hash = (page: import('playwright-core').Page) => page.evaluate(() => (globalThis as any).location.hash) as Promise<string>

t.test('a link to a place: honoured on load, updated as the view moves, kept by a reload', async (t) => {
  const { url } = await listen(t)
  const me = await person(t, browser, `${url}/#token=${token({ sub: 'kim', name: 'Kim' })}&300,200,4`)
  await status(me.page, 'live')
  await me.page.waitForFunction(() => (globalThis as any).pixelwire.board.view.scale === 4, undefined, { timeout: WAIT_MS })
  t.match(await view(me.page), { x: 300, y: 200, zoom: 4 }, 'the view is centred on (300, 200) at 4x')
  await me.page.waitForFunction(() => (globalThis as any).location.hash === '#300,200,4', undefined, { timeout: WAIT_MS })
  t.pass('the address bar holds the place (and no token)')

  await me.page.keyboard.press('+')
  await me.page.keyboard.press('ArrowLeft')
  const moved = await view(me.page)
  t.equal(moved.zoom, 6, 'zoomed in')
  await me.page.waitForFunction((want) => (globalThis as any).location.hash === want, `#${moved.x},${moved.y},6`, { timeout: WAIT_MS })
  t.pass(`the fragment followed the view (${await hash(me.page)})`)

  await me.page.reload()
  await status(me.page, 'live')
  await me.page.waitForFunction(() => (globalThis as any).pixelwire.board.view.scale === 6, undefined, { timeout: WAIT_MS })
  t.match(await view(me.page), { x: moved.x, y: moved.y }, 'a reload shows the same place')

  // Editing the fragment moves the view without a reload.
  await me.page.evaluate(() => { (globalThis as any).location.hash = '#10,20,2' })
  await me.page.waitForFunction(() => (globalThis as any).pixelwire.board.view.scale === 2, undefined, { timeout: WAIT_MS })
  t.match(await view(me.page), { x: 10, y: 20, zoom: 2 })
  t.same(me.errors, [], 'no script errors')
})

t.test('the canvas name and a picker of every canvas', async (t) => {
  const { url } = await listen(t)
  const admin = { authorization: `Bearer ${token({ sub: 'ops', role: 'admin' })}`, 'content-type': 'application/json' }
  const created = await fetch(`${url}/api/admin/canvases`, { method: 'POST', headers: admin, body: JSON.stringify({ id: 'event', width: 64, height: 48 }) })
  t.equal(created.status, 201)
  const me = await person(t, browser, `${url}/#token=${token({ sub: 'kim', name: 'Kim' })}`)
  await status(me.page, 'live')
  await me.page.waitForSelector('#canvas-picker option[value="event"]', { timeout: WAIT_MS, state: 'attached' })
  t.equal(await me.page.inputValue('#canvas-picker'), 'main', 'the current canvas is shown by name')
  t.match(await me.page.textContent('#canvas-picker'), /event \(64×48\).*main \(1024×1024\)/)
  t.equal(await me.page.title(), 'main · pixelwire')
  await me.page.selectOption('#canvas-picker', 'event')
  await me.page.waitForFunction(() => (globalThis as any).pixelwire?.board.width === 64, undefined, { timeout: WAIT_MS })
  await status(me.page, 'live')
  t.equal(await me.page.inputValue('#canvas-picker'), 'event')
  t.equal(await me.page.title(), 'event · pixelwire')
  t.ok(me.sockets.at(-1)?.includes('canvas=event'), 'the socket is on the picked canvas')
  t.same(me.errors, [], 'no script errors')
})

t.test('the budget r/place style, from hello.limits before any refusal', async (t) => {
  // One pixel per 20 s.
  const { url, wsUrl } = await listen(t, { TICK_MS: '20', PIXEL_RATE: '0.05', PIXEL_BURST: '1' })
  const fresh = await person(t, browser, `${url}/#token=${token({ sub: 'fresh', name: 'Fresh' })}`)
  await status(fresh.page, 'live')
  await fresh.page.waitForSelector('#budget:not([hidden]):text("1 pixel ready")', { timeout: WAIT_MS })
  t.pass('a fresh painter has its pixel ready')

  // The same user spent it elsewhere: the page knows from its hello.
  const twin = new TestClient(wsUrl, { token: token({ sub: 'spent' }) })
  t.teardown(() => twin.close())
  await twin.next(isHello)
  await twin.next(isSnapshot)
  twin.send(stroke([[1, 1, 0, 0, 0]]))
  await twin.next(isUpdates)
  const me = await person(t, browser, `${url}/#token=${token({ sub: 'spent', name: 'Spent' })}`)
  await status(me.page, 'live')
  await me.page.waitForSelector('#budget:not([hidden])', { timeout: WAIT_MS })
  t.match(await me.page.textContent('#budget'), /^next pixel in 0:(1\d|2[0-3])$/, 'the wait is shown at once')
  t.equal(await me.page.locator('.message').count(), 0, 'without a refusal')
  t.same(me.errors, [], 'no script errors')
})

t.test('who placed this: the painter\'s display name', async (t) => {
  const { url } = await listen(t, { TICK_MS: '20' })
  const ann = await person(t, browser, `${url}/`)
  await joinAsGuest(ann.page, 'Ann')
  await ann.page.keyboard.press('3')
  await drag(ann.page, [200, 300], [220, 300])
  await waitForPixels(ann.page, row(200, 220, 300), rgbOf('#ff4500'))
  const spot = await screenOf(ann.page, 210, 300)
  await ann.page.keyboard.press('h')
  await ann.page.mouse.move(spot.x, spot.y)
  await ann.page.mouse.move(spot.x + 0.2, spot.y)
  await ann.page.waitForSelector('#history:not([hidden])', { timeout: WAIT_MS })
  t.match(await ann.page.textContent('#history'), /placed by Ann at/)
  t.notMatch(await ann.page.textContent('#history'), /guest:/, 'not the guest id')
})
