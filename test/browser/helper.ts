// Browser end-to-end helpers: Debian's chromium driven by playwright-core,
// one browser per test file, one context per person. Waits are on what the
// page shows (status, canvas pixels), never on fixed sleeps.
import { existsSync, mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core'
import { ROOT } from '../../src/paths.js'

type Tap = { teardown (fn: () => unknown): void, comment (...args: unknown[]): void }

export const SCREENSHOTS = join(ROOT, '.tap', 'screenshots')
const BUNDLE = join(ROOT, 'public', 'build', 'app.js')
export const VIEWPORT = { width: 1000, height: 720 }
/** Generous: two busy cores, a browser and servers under tsx. */
export const WAIT_MS = 30_000

export async function launch (t: Tap): Promise<Browser> {
  if (!existsSync(BUNDLE)) throw new Error(`${BUNDLE} is missing: run npm run build:client (npm test does)`)
  const browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking']
  })
  t.teardown(() => browser.close())
  return browser
}

/** What a page sent over its WebSocket: the first byte of every binary frame. */
export interface Person { context: BrowserContext, page: Page, sentOps: number[], errors: string[], sockets: string[], console: string[] }

/** A new browser context (its own storage) on `url`, closed in teardown. */
export async function person (t: Tap, browser: Browser, url: string): Promise<Person> {
  const context = await browser.newContext({ viewport: VIEWPORT })
  t.teardown(() => context.close())
  const page = await context.newPage()
  const sentOps: number[] = []
  const errors: string[] = []
  const sockets: string[] = []
  // Console errors: a refused handshake or a failed request shows here.
  const consoleLines: string[] = []
  page.on('console', (m) => { if (m.type() === 'error') consoleLines.push(m.text()) })
  page.on('pageerror', (err) => errors.push(err.message))
  page.on('websocket', (ws) => {
    sockets.push(ws.url())
    ws.on('framesent', (f) => { if (typeof f.payload !== 'string') sentOps.push(f.payload[0]) })
  })
  await page.goto(url)
  return { context, page, sentOps, errors, sockets, console: consoleLines }
}

export function status (page: Page, state: 'connecting' | 'live' | 'reconnecting' | 'offline' | 'watching', ms = WAIT_MS) {
  return page.waitForSelector(`#status[data-state="${state}"]`, { timeout: ms, state: 'attached' })
}

/** Sign in through the dialog as a guest. */
export async function joinAsGuest (page: Page, name: string): Promise<void> {
  // A first visit shows no dialog until the visitor draws or asks: ask.
  if (!await page.isVisible('#signin')) await page.click('#signin-button')
  await page.waitForSelector('#signin[open]', { timeout: WAIT_MS })
  await page.fill('#guest-name', name)
  await page.click('#guest-form button[type=submit]')
  await status(page, 'live')
}

/** [r, g, b] of canvas pixel (x, y) as the page painted it. */
export function pixelAt (page: Page, x: number, y: number): Promise<number[]> {
  return page.evaluate(([x, y]) => (globalThis as any).pixelwire.pixel(x, y), [x, y])
}

/** Wait until every listed pixel shows `rgb` on the page's canvas. */
export async function waitForPixels (page: Page, pts: Array<[number, number]>, rgb: number[], ms = WAIT_MS): Promise<void> {
  await page.waitForFunction(([pts, rgb]) => {
    const pw = (globalThis as any).pixelwire
    return pw !== undefined && pw.board.ready && (pts as Array<[number, number]>).every(([x, y]) => {
      const p = pw.pixel(x, y)
      return p[0] === rgb[0] && p[1] === rgb[1] && p[2] === rgb[2]
    })
  }, [pts, rgb] as const, { timeout: ms, polling: 50 })
}

/** Client coordinates of the centre of canvas pixel (x, y). */
export function screenOf (page: Page, x: number, y: number): Promise<{ x: number, y: number }> {
  return page.evaluate(([x, y]) => (globalThis as any).pixelwire.toScreen(x, y), [x, y])
}

/** A mouse drag from pixel a to pixel b, through `steps` moves. */
export async function drag (page: Page, a: [number, number], b: [number, number], steps = 12): Promise<void> {
  const from = await screenOf(page, a[0], a[1])
  const to = await screenOf(page, b[0], b[1])
  await page.mouse.move(from.x, from.y)
  await page.mouse.down()
  await page.mouse.move(to.x, to.y, { steps })
  await page.mouse.up()
}

/** Pixels of a horizontal run from (x0, y) to (x1, y). */
export function row (x0: number, x1: number, y: number): Array<[number, number]> {
  const out: Array<[number, number]> = []
  for (let x = x0; x <= x1; x++) out.push([x, y])
  return out
}

export async function screenshot (t: Tap, page: Page, name: string): Promise<string> {
  mkdirSync(SCREENSHOTS, { recursive: true })
  const path = join(SCREENSHOTS, name)
  // No keyboard focus ring around the whole canvas in a picture.
  await page.evaluate(() => (globalThis as any).document.activeElement?.blur())
  await page.screenshot({ path })
  t.comment(`screenshot ${path}`)
  return path
}

export const rgbOf = (hex: string): number[] => [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16))
