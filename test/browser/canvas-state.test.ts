// The event states of contract §10 as the page shows them, driven through
// the real admin routes: frozen (a banner, read-only tools, FROZEN in words),
// reset under a live page (the queue discarded, a blank picture), deleted
// (4404: said in words, no reconnecting).
import t from 'tap'
import { listen, token } from '../helper.js'
import { WAIT_MS, drag, launch, person, pixelAt, rgbOf, row, status, waitForPixels } from './helper.js'

const browser = await launch(t)
const ORANGE = rgbOf('#ff4500') // key 3

t.test('frozen, reset and deleted, in words', async (t) => {
  const { url } = await listen(t, { TICK_MS: '20' })
  const authorization = `Bearer ${token({ sub: 'ops', role: 'admin' })}`
  const call = (method: string, path: string, body?: unknown) => fetch(`${url}/api/admin/canvases${path}`, body === undefined
    ? { method, headers: { authorization } }
    : { method, headers: { authorization, 'content-type': 'application/json' }, body: JSON.stringify(body) })
  t.equal((await call('POST', '', { id: 'event', width: 64, height: 64 })).status, 201)
  const me = await person(t, browser, `${url}/#token=${token({ sub: 'kim', name: 'Kim' })}&canvas=event`)
  await status(me.page, 'live')
  await me.page.keyboard.press('3')
  await drag(me.page, [5, 5], [20, 5])
  await waitForPixels(me.page, row(5, 20, 5), ORANGE)

  t.equal((await call('PATCH', '/event', { frozen: true })).status, 200)
  await me.page.waitForSelector('#canvas-state:not([hidden]):text("This canvas is frozen")', { timeout: WAIT_MS })
  t.ok(await me.page.isDisabled('.tool[data-tool="pencil"]'), 'the tools are read-only while frozen')
  await me.page.waitForSelector('.message.notice:text("drawing is paused")', { timeout: WAIT_MS })
  t.equal((await call('PATCH', '/event', { frozen: false })).status, 200)
  await me.page.waitForSelector('#canvas-state[hidden]', { timeout: WAIT_MS, state: 'attached' })
  t.ok(await me.page.isEnabled('.tool[data-tool="pencil"]'), 'and drawable again once open')

  t.equal((await call('POST', '/event/reset')).status, 200)
  await me.page.waitForSelector('.message.notice:text("The canvas was reset by the moderators")', { timeout: WAIT_MS })
  await waitForPixels(me.page, row(5, 20, 5), [255, 255, 255])
  t.pass('the picture is blank after the reset')
  await status(me.page, 'live')
  await drag(me.page, [5, 9], [9, 9])
  await waitForPixels(me.page, row(5, 9, 9), ORANGE)
  t.pass('drawing goes on under the new epoch')

  t.equal((await call('DELETE', '/event')).status, 204)
  await status(me.page, 'offline')
  t.match(await me.page.textContent('#status'), /This canvas was deleted/)
  t.match(await me.page.textContent('#canvas-state'), /This canvas was deleted/)
  const sockets = me.sockets.length
  await me.page.waitForTimeout(1500) // a window for a reconnect that must not happen
  t.equal(me.sockets.length, sockets, 'no reconnect to a deleted canvas')
  t.same(await pixelAt(me.page, 5, 9), ORANGE, 'the last picture stays shown')
  t.same(me.errors, [], 'no script errors')
})
