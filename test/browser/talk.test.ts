// Beside the pixels: the chat panel on chat:<canvas> between two pages, a
// viewer who may read but not speak, admin alerts and broadcasts as notices,
// and the chat replayed after a reconnect.
import t from 'tap'
import { listen, token } from '../helper.js'
import { WAIT_MS, launch, person, status } from './helper.js'

const browser = await launch(t)

t.test('chat between two painters; a viewer reads; alerts and broadcasts are notices', async (t) => {
  const { url } = await listen(t, { TICK_MS: '20' })
  const ann = await person(t, browser, `${url}/#token=${token({ sub: 'ann', name: 'Ann' })}`)
  const bob = await person(t, browser, `${url}/#token=${token({ sub: 'bob', name: 'Bob' })}`)
  const vera = await person(t, browser, `${url}/#token=${token({ sub: 'vera', name: 'Vera', role: 'viewer' })}`)
  for (const p of [ann, bob, vera]) await status(p.page, 'live')
  t.ok(await vera.page.isDisabled('#chat-input'), 'a viewer cannot speak')
  t.equal(await vera.page.getAttribute('#chat-input', 'placeholder'), 'Sign in to chat')

  await ann.page.click('#chat summary')
  await bob.page.click('#chat summary')
  await ann.page.fill('#chat-input', 'hello from Ann <b>not bold</b>')
  await ann.page.press('#chat-input', 'Enter')
  await bob.page.waitForSelector('#chat-log li:has-text("hello from Ann")', { timeout: WAIT_MS })
  t.equal(await bob.page.textContent('#chat-log li'), 'Ann: hello from Ann <b>not bold</b>', 'shown with the name, as text')
  t.equal(await ann.page.inputValue('#chat-input'), '', 'the input is cleared once sent')
  await vera.page.waitForSelector('#chat-unread:not([hidden]):text("1")', { timeout: WAIT_MS })
  t.pass('the closed panel counts the unread line')

  const admin = { authorization: `Bearer ${token({ sub: 'ops', role: 'admin' })}`, 'content-type': 'application/json' }
  const alert = await fetch(`${url}/api/admin/broadcast`, { method: 'POST', headers: admin, body: JSON.stringify({ stream: 'alerts:all', data: 'Maintenance at 06:00' }) })
  t.equal(alert.status, 200)
  await ann.page.waitForSelector('.message.notice:text("Notice: Maintenance at 06:00")', { timeout: WAIT_MS })
  await vera.page.waitForSelector('.message.notice:text("Notice: Maintenance at 06:00")', { timeout: WAIT_MS })
  t.pass('an alert on alerts:all is a notice on every page')
  await fetch(`${url}/api/admin/broadcast`, { method: 'POST', headers: admin, body: JSON.stringify({ stream: 'alerts:main', data: { text: 'Main only' } }) })
  await bob.page.waitForSelector('.message.notice:text("Notice: Main only")', { timeout: WAIT_MS })
  await fetch(`${url}/api/admin/broadcast`, { method: 'POST', headers: admin, body: JSON.stringify({ canvas: 'main', data: { message: 'To the canvas' } }) })
  await bob.page.waitForSelector('.message.notice:text("Notice: To the canvas")', { timeout: WAIT_MS })
  t.pass('alerts:<canvas> and a canvas broadcast too')

  // A reconnect subscribes with since: what was said meanwhile is replayed, nothing twice.
  await bob.page.evaluate(() => { (globalThis as any).pixelwire.client.reconnect() })
  await ann.page.fill('#chat-input', 'second line')
  await ann.page.press('#chat-input', 'Enter')
  await status(bob.page, 'live')
  await bob.page.waitForSelector('#chat-log li:has-text("second line")', { timeout: WAIT_MS })
  t.equal(await bob.page.locator('#chat-log li').count(), 2, 'two lines, none repeated')
  for (const p of [ann, bob, vera]) t.same(p.errors, [], 'no script errors')
})
