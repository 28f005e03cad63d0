// A guest keeps its identity: before the token's exp the page renews it
// (POST /api/auth/guest/renew, issue 13's server) and puts it on the open
// socket in-band, without reconnecting.
import t from 'tap'
import { listen, token } from '../helper.js'
import { WAIT_MS, launch, person, status } from './helper.js'

const browser = await launch(t)
const claimsOf = (jwt: string) => JSON.parse(Buffer.from(jwt.split('.')[1], 'base64url').toString()) as { sub: string, name: string, exp: number }

t.test('a guest token is renewed in-band before it expires: same sub, later exp, no reconnect', async (t) => {
  const { url } = await listen(t, { TICK_MS: '20' })
  // A guest token of this server with a 20 s life: renewed halfway.
  const first = token({ sub: 'guest:renewme', name: 'Ann' }, { ttlSec: 20 })
  const me = await person(t, browser, `${url}/#token=${first}`)
  const texts: string[] = []
  me.page.on('websocket', (ws) => ws.on('framereceived', (f) => { if (typeof f.payload === 'string') texts.push(f.payload) }))
  await status(me.page, 'live')
  await me.page.waitForFunction((first) => (globalThis as any).pixelwire.token !== first, first, { timeout: WAIT_MS, polling: 200 })
  const next = await me.page.evaluate(() => (globalThis as any).pixelwire.token) as string
  t.equal(claimsOf(next).sub, 'guest:renewme', 'the same guest')
  t.equal(claimsOf(next).name, 'Ann', 'under the same name')
  t.ok(claimsOf(next).exp > claimsOf(first).exp, 'with a later exp')
  t.equal(me.sockets.length, 1, 'on the same socket')
  t.match(await me.page.textContent('#status'), /live/)
  t.same(me.errors, [], 'no script errors')
})
