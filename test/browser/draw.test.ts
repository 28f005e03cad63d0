// The drawing client in a real browser against a real server: the page is
// served; two guests draw together and see each other; a reload keeps the
// picture.
import t from 'tap'
import { listen } from '../helper.js'
import {
  WAIT_MS, drag, joinAsGuest, launch, person, pixelAt, rgbOf, row, screenOf, screenshot, status, waitForPixels
} from './helper.js'

const ORANGE = rgbOf('#ff4500') // key 3
const GREEN = rgbOf('#00cc78') // key 8
const BLUE = rgbOf('#3690ea') // palette 14, picked with ]

t.test('the page is served with its bundle, and API routes keep their 404', async (t) => {
  const { url } = await listen(t)
  const page = await fetch(`${url}/`)
  t.equal(page.status, 200)
  t.match(page.headers.get('content-type'), /text\/html/)
  t.equal(page.headers.get('cache-control'), 'no-cache')
  t.match(page.headers.get('content-security-policy'), /connect-src 'self'/)
  t.match(await page.text(), /<canvas id="board"/)
  const js = await fetch(`${url}/build/app.js`)
  t.equal(js.status, 200)
  t.match(js.headers.get('content-type'), /javascript/)
  const missing = await fetch(`${url}/no-such-file.js`)
  t.equal(missing.status, 404)
  t.same((await missing.json() as { error: string }).error, 'NOT_FOUND')
  t.equal((await fetch(`${url}/health`)).status, 200, '/health is not shadowed')
})

t.test('two guests draw together; a reload shows the same canvas', async (t) => {
  const { url } = await listen(t, { TICK_MS: '20' })
  const browser = await launch(t)
  const alice = await person(t, browser, `${url}/`)
  const bob = await person(t, browser, `${url}/`)
  await joinAsGuest(alice.page, 'alice')
  await joinAsGuest(bob.page, 'bob')
  t.match(await alice.page.textContent('#user'), /alice \(painter\)/)
  await bob.page.waitForFunction(() => (globalThis as any).document.querySelector('#presence-count').textContent === '2', undefined, { timeout: WAIT_MS })
  t.match(await bob.page.textContent('#presence-list'), /alice/, 'bob sees alice in the presence list')
  await screenshot(t, alice.page, 'empty.png')

  // alice: a horizontal stroke in orange, then one in green (colours by keyboard).
  await alice.page.keyboard.press('3')
  await drag(alice.page, [200, 300], [420, 300])
  await alice.page.keyboard.press('8')
  await drag(alice.page, [200, 310], [420, 310], 20)
  const orange = row(200, 420, 300)
  const green = row(200, 420, 310)
  await waitForPixels(bob.page, orange, ORANGE)
  await waitForPixels(bob.page, green, GREEN)
  t.pass('bob\'s canvas shows both of alice\'s strokes, pixel for pixel')
  t.same(await pixelAt(bob.page, 199, 300), [255, 255, 255], 'and nothing beside them')
  t.ok(alice.sentOps.includes(0x01), 'strokes went out as PIXELS')
  t.notOk(alice.sentOps.includes(0x00), 'never as single PIXEL ops')

  // Bob sees alice's cursor, named.
  await bob.page.waitForFunction(() => (globalThis as any).pixelwire.board.cursors.size > 0, undefined, { timeout: WAIT_MS })
  t.pass('bob sees alice\'s cursor')

  // Bob zooms in with the wheel and fills a rectangle with the rect tool.
  const centre = await screenOf(bob.page, 300, 400)
  await bob.page.mouse.move(centre.x, centre.y)
  const fitted = await bob.page.evaluate(() => (globalThis as any).pixelwire.board.view.scale)
  await bob.page.mouse.wheel(0, -800)
  await bob.page.waitForFunction((s) => (globalThis as any).pixelwire.board.view.scale > 2 * s, fitted, { timeout: WAIT_MS })
  await bob.page.keyboard.press('r')
  await bob.page.keyboard.press(']') // from the default orange (3rd) to the 4th colour
  await bob.page.keyboard.press('[')
  await bob.page.keyboard.press('[') // back to the 2nd, then pick blue by clicking its swatch
  await bob.page.click('.swatch[data-color="#3690ea"]')
  await drag(bob.page, [290, 390], [309, 404])
  const rect: Array<[number, number]> = []
  for (let y = 390; y <= 404; y++) for (let x = 290; x <= 309; x++) rect.push([x, y])
  await waitForPixels(alice.page, rect, BLUE)
  t.ok(bob.sentOps.includes(0x02), 'the rectangle went out as one RECT')

  // Who placed this: hover over one of alice's pixels on bob's page.
  await bob.page.keyboard.press('f')
  const spot = await screenOf(bob.page, 300, 300)
  await bob.page.mouse.move(spot.x, spot.y)
  await bob.page.mouse.move(spot.x + 0.2, spot.y)
  await bob.page.waitForSelector('#history:not([hidden])', { timeout: WAIT_MS })
  t.match(await bob.page.textContent('#history'), /placed by alice at/, 'by display name')
  t.match(await bob.page.textContent('#readout'), /300, 300 #ff4500/, 'the readout names the pixel and its colour')

  // A drawing for the docs: alice zooms in on it and draws a little more.
  const around = await screenOf(alice.page, 330, 350)
  await alice.page.mouse.move(around.x, around.y)
  await alice.page.mouse.wheel(0, -1000)
  await alice.page.keyboard.press('9')
  await drag(alice.page, [425, 315], [470, 360], 16)
  await alice.page.keyboard.press('1')
  await drag(alice.page, [470, 360], [380, 380], 16)
  await alice.page.keyboard.press('r')
  await alice.page.keyboard.press('5')
  await drag(alice.page, [230, 330], [260, 370])
  await waitForPixels(bob.page, [[470, 360], [380, 380]], rgbOf('#6d001a'))
  await waitForPixels(bob.page, [[230, 330], [260, 370]], rgbOf('#ffd635'))
  await alice.page.mouse.move(around.x, around.y)
  await screenshot(t, alice.page, 'drawing.png')

  // A reload shows the same canvas, still signed in.
  await bob.page.reload()
  await status(bob.page, 'live')
  t.match(await bob.page.textContent('#user'), /bob/, 'still signed in after a reload')
  await waitForPixels(bob.page, orange, ORANGE)
  await waitForPixels(bob.page, green, GREEN)
  await waitForPixels(bob.page, rect, BLUE)
  t.same(alice.errors, [], 'no script errors on alice\'s page')
  t.same(bob.errors, [], 'no script errors on bob\'s page')
})
