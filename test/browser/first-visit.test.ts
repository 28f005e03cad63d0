// A first visit, before signing in: the canvas is shown at once (the public
// picture), live where anonymous viewers may connect, else a picture
// refreshed with If-None-Match that says so; sign-in is asked only when the
// visitor draws; a full server (503) falls back to the picture and goes live
// when a slot frees. Never a red "offline", never a refused handshake in the
// console.
import t from 'tap'
import { listen, token, TestClient, isHello, isSnapshot, isUpdates, stroke } from '../helper.js'
import { WAIT_MS, joinAsGuest, launch, person, screenOf, status, waitForPixels } from './helper.js'

const browser = await launch(t)
type Tap = { teardown (fn: () => unknown): void }

/** A TestClient painter that draws `pts` in one stroke and waits for it to commit. */
async function drawn (t: Tap, wsUrl: string, pts: Array<[number, number, number, number, number]>, sub = 'p'): Promise<TestClient> {
  const c = new TestClient(wsUrl, { token: token({ sub }) })
  t.teardown(() => c.close())
  await c.next(isHello)
  await c.next(isSnapshot)
  c.send(stroke(pts))
  await c.next(isUpdates)
  return c
}

t.test('ANONYMOUS=off: the picture at once, refreshed with ETag; sign-in only on drawing; "Just watch" keeps watching', async (t) => {
  const { url, wsUrl } = await listen(t, { TICK_MS: '20' })
  const painter = await drawn(t, wsUrl, [[10, 10, 200, 0, 0], [11, 10, 200, 0, 0]])
  const me = await person(t, browser, `${url}/`)
  const pngs: number[] = []
  me.page.on('response', (r) => { if (r.url().endsWith('/snapshot.png')) pngs.push(r.status()) })

  await waitForPixels(me.page, [[10, 10], [11, 10]], [200, 0, 0])
  t.pass('the canvas is shown before any sign-in')
  await status(me.page, 'watching')
  t.match(await me.page.textContent('#status'), /picture of the canvas, refreshed every 5 s\. Sign in to see it live/)
  t.notOk(await me.page.isVisible('#signin'), 'no sign-in dialog on arrival')
  t.match(await me.page.textContent('#user'), /not signed in/)

  // A change on the server reaches the picture; an unchanged one is a 304.
  painter.send(stroke([[12, 10, 0, 0, 200]]))
  await waitForPixels(me.page, [[12, 10]], [0, 0, 200])
  await t.resolves(waitFor(() => pngs.includes(304)), 'a refresh of an unchanged canvas is answered 304 (If-None-Match)')
  t.ok(pngs.filter((s) => s === 200).length >= 2, 'and a changed one 200')

  // Drawing is what asks to sign in; "Just watch" goes back to watching.
  await me.page.keyboard.press('3')
  const at = await screenOf(me.page, 100, 100)
  await me.page.mouse.click(at.x, at.y)
  await me.page.waitForSelector('#signin[open]', { timeout: WAIT_MS })
  t.match(await me.page.textContent('#signin-error'), /Sign in to draw/)
  await me.page.click('#watch-button')
  t.notOk(await me.page.isVisible('#signin'), 'the dialog closed')
  await status(me.page, 'watching')

  await me.page.mouse.click(at.x, at.y)
  await joinAsGuest(me.page, 'Newcomer')
  t.match(await me.page.textContent('#user'), /Newcomer \(painter\)/)
  t.same(me.sockets.length, 1, 'one WebSocket, opened only once signed in')
  t.same(me.console.filter((l) => /401|WebSocket/.test(l)), [], 'no refused handshake or 401 in the console')
  t.same(me.errors, [], 'no script errors')
})

t.test('ANONYMOUS=read: live as a viewer at once, drawing asks to sign in', async (t) => {
  const { url, wsUrl } = await listen(t, { TICK_MS: '20', ANONYMOUS: 'read' })
  const painter = await drawn(t, wsUrl, [[20, 20, 0, 150, 0]])
  const me = await person(t, browser, `${url}/`)
  await status(me.page, 'live')
  await waitForPixels(me.page, [[20, 20]], [0, 150, 0])
  t.notOk(await me.page.isVisible('#signin'), 'no sign-in dialog')
  painter.send(stroke([[21, 20, 0, 150, 0]]))
  await waitForPixels(me.page, [[21, 20]], [0, 150, 0])
  t.pass('others\' pixels arrive live')
  const at = await screenOf(me.page, 100, 100)
  await me.page.mouse.click(at.x, at.y)
  await me.page.waitForSelector('#signin[open]', { timeout: WAIT_MS })
  t.same(me.sentOps.filter((op) => op <= 0x02), [], 'nothing was sent before signing in')
  t.same(me.console, [], 'a clean console')
})

t.test('a full server (503): the picture, in words, then live once a slot frees', async (t) => {
  const { url, wsUrl } = await listen(t, { TICK_MS: '20', MAX_CONNECTIONS: '1' })
  const holder = await drawn(t, wsUrl, [[30, 30, 0, 0, 0]])
  const me = await person(t, browser, `${url}/#token=${token({ sub: 'late', name: 'Late' })}`)
  await status(me.page, 'watching')
  t.match(await me.page.textContent('#status'), /not taking live connections now \(it may be full\)/)
  await waitForPixels(me.page, [[30, 30]], [0, 0, 0])
  t.pass('the canvas is shown meanwhile')
  holder.close()
  await status(me.page, 'live', 60_000)
  t.pass('live once a slot freed')
  t.same(me.errors, [], 'no script errors')
})

async function waitFor (ok: () => boolean, ms = WAIT_MS): Promise<void> {
  const until = Date.now() + ms
  while (!ok()) {
    if (Date.now() > until) throw new Error('timed out')
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
}
