// What the page shows below 1:1, read back from its screen canvas: thin
// lines and diagonals stay visible at every zoom (none skipped by sampling).
import t from 'tap'
import type { Page } from 'playwright-core'
import { listen, token, TestClient, isHello, isSnapshot, isUpdates, stroke } from '../helper.js'
import { launch, person, status, waitForPixels } from './helper.js'

const browser = await launch(t)
type Px = [number, number, number, number, number]

/** 1-pixel black lines: a long horizontal and vertical, both diagonals, an L, and single dots. */
function lines (): Px[][] {
  const black = (x: number, y: number): Px => [x, y, 0, 0, 0]
  const out: Px[][] = []
  out.push(Array.from({ length: 800 }, (_, i) => black(100 + i, 401)))
  out.push(Array.from({ length: 800 }, (_, i) => black(601, 100 + i)))
  out.push(Array.from({ length: 700 }, (_, i) => black(150 + i, 120 + i)))
  out.push(Array.from({ length: 700 }, (_, i) => black(850 - i, 130 + i)))
  out.push([...Array.from({ length: 201 }, (_, i) => black(300 + i, 200)), ...Array.from({ length: 200 }, (_, i) => black(300, 201 + i))])
  out.push(Array.from({ length: 40 }, (_, i) => black(60 + 21 * i, 950 + (i % 3))))
  return out
}

/** The darkest channel of the screen pixel under each canvas pixel's centre (null: off screen). */
function screenValues (page: Page, pts: Array<[number, number]>): Promise<Array<number | null>> {
  return page.evaluate(async (pts) => {
    const g = globalThis as any
    const board = g.pixelwire.board
    await new Promise((resolve) => g.requestAnimationFrame(() => g.requestAnimationFrame(resolve)))
    const screen = board.screen
    const r = screen.getBoundingClientRect()
    const dpr = g.devicePixelRatio || 1
    const data = screen.getContext('2d').getImageData(0, 0, screen.width, screen.height).data
    return (pts as Array<[number, number]>).map(([x, y]) => {
      const s = board.toScreen(x, y)
      const sx = Math.floor((s.x - r.left) * dpr)
      const sy = Math.floor((s.y - r.top) * dpr)
      if (sx < 0 || sy < 0 || sx >= screen.width || sy >= screen.height) return null
      const o = (sy * screen.width + sx) * 4
      return Math.max(data[o], data[o + 1], data[o + 2])
    })
  }, pts)
}

t.test('below 1:1 every thin line and dot stays visible (fit view and other zooms)', async (t) => {
  const { url, wsUrl } = await listen(t, { TICK_MS: '20' })
  const admin = new TestClient(wsUrl, { token: token({ sub: 'ops', role: 'admin' }) })
  t.teardown(() => admin.close())
  await admin.next(isHello)
  await admin.next(isSnapshot)
  const strokes = lines()
  for (const s of strokes) admin.send(stroke(s))
  await admin.next(isUpdates)

  const me = await person(t, browser, `${url}/#token=${token({ sub: 'watcher', role: 'viewer' })}`)
  await status(me.page, 'live')
  const pts = strokes.flat().map(([x, y]) => [x, y] as [number, number])
  const linePts = strokes.slice(0, -1).flat().map(([x, y]) => [x, y] as [number, number])
  const dots = strokes[strokes.length - 1].map(([x, y]) => [x, y] as [number, number])
  await waitForPixels(me.page, pts, [0, 0, 0])

  const fit = await me.page.evaluate(() => (globalThis as any).pixelwire.board.view.scale)
  t.ok(fit < 1, `the fit view is below 1:1 (${fit.toFixed(3)})`)
  // White is 255. A 1-pixel line at scale s covers s of a screen pixel, so an
  // area-correct picture darkens it by about that much; sampling instead
  // shows whole rows and columns of it as pure white. A lone dot covers s²:
  // checked in the fit view only (below ~0.3 it is rightly almost nothing).
  // (Read at the screen pixel under the source pixel's centre, which the
  // interpolation may weigh at a third: hence the loose limits.)
  const check = async (scale: number, which: Array<[number, number]>, limit: number, what: string) => {
    const shown = (await screenValues(me.page, which)).filter((v): v is number => v !== null)
    t.ok(shown.length > which.length / 4, `at ${scale.toFixed(3)}: ${shown.length} ${what} pixels on screen`)
    t.equal(shown.filter((v) => v >= limit).length, 0, `at ${scale.toFixed(3)}: no ${what} pixel shows as background (darkest channel < ${limit}; max seen ${Math.max(...shown)})`)
    const mean = shown.reduce((a, v) => a + 255 - v, 0) / shown.length
    t.ok(mean > 255 * scale / 8, `at ${scale.toFixed(3)}: the ${what}s keep contrast (mean darkening ${mean.toFixed(0)})`)
  }
  await check(fit, linePts, 245, 'line')
  await check(fit, dots, 245, 'dot')
  for (const scale of [0.8, 0.45, 0.3, 0.17]) {
    await me.page.evaluate((scale) => {
      const board = (globalThis as any).pixelwire.board
      board.view.scale = scale
      board.view.ox = 10
      board.view.oy = 60
      board.requestPaint()
    }, scale)
    await check(scale, linePts, 255, 'line')
  }
  t.same(me.errors, [], 'no script errors')
})
