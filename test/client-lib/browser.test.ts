// pixelwire/client in a browser (Chromium), bundled by esbuild as a page
// would: the browser's own WebSocket (the token as a `bearer.` subprotocol
// entry), DecompressionStream for the SNAPSHOT, a draw confirmed by the
// commit barrier, against the real server.
import { build } from 'esbuild'
import t from 'tap'
import { launch } from '../browser/helper.js'
import { listen, token } from '../helper.js'
import { libClient } from './helper.js'

t.test('the library runs in Chromium: connects, draws, and its canvas holds the picture', async (t) => {
  const srv = await listen(t, { TICK_MS: '20', DEFAULT_CANVAS_WIDTH: '64', DEFAULT_CANVAS_HEIGHT: '48' })
  const node = libClient(t, srv.wsUrl, { sub: 'node' })
  await node.connect()
  await node.draw(10, 10, 0xabcdef) // in the SNAPSHOT the browser inflates
  const bundle = await build({ entryPoints: ['src/client-lib/index.ts'], bundle: true, format: 'iife', globalName: 'pixelwireClient', target: 'es2022', write: false, logLevel: 'silent' })
  const browser = await launch(t)
  const page = await browser.newPage()
  const errors: string[] = []
  page.on('pageerror', (err) => errors.push(err.message))
  await page.goto(`${srv.url}/health`) // the server's origin, without the drawing page's own script
  await page.addScriptTag({ content: bundle.outputFiles[0].text })
  const result = await page.evaluate(async ({ url, jwt }) => {
    const lib = (globalThis as any).pixelwireClient
    const c = new lib.PixelwireClient({ url, getToken: () => jwt })
    await c.connect()
    const r = await c.drawRect(3, 4, 2, 2, 0x123456)
    const out = { seq: r.seq, px: c.canvas.pixel(4, 5), before: c.canvas.pixel(10, 10), width: c.canvas.width, user: c.hello.user.id, state: c.state }
    c.close()
    return out
  }, { url: srv.wsUrl, jwt: token({ sub: 'browser' }) })
  t.match(result, { px: 0x123456, before: 0xabcdef, width: 64, user: 'browser', state: 'live' })
  t.ok(result.seq >= 4, `confirmed at seq ${result.seq}`)
  t.equal(srv.app.canvasStore.pixelAt('main', 4, 5)?.color, 0x123456, 'committed on the server')
  t.same(errors, [], 'no page error')
})
