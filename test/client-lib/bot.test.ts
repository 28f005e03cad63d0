// The README's bot (docs/examples/bot.ts) run as a real process, importing
// `pixelwire/client` by its package name, against a real server with a
// tight pixel budget: it exits 0, every pixel of its PNG is on the canvas,
// and the server refused none of its pixels for the rate.
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { encodePng } from '../../src/png.js'
import { listen, SECRET, tempDir } from '../helper.js'
import { spawnProcess, within } from '../process.js'
import { serverPicture } from './helper.js'

t.test('the README quotes the bot whole', async (t) => {
  t.ok(readFileSync('README.md', 'utf8').includes('```ts\n' + readFileSync('docs/examples/bot.ts', 'utf8') + '```\n'), 'docs/examples/bot.ts, as is')
})

t.test('the bot paints a PNG, honouring the cooldown, and exits 0 once every pixel is confirmed', async (t) => {
  const srv = await listen(t, { TICK_MS: '20', DEFAULT_CANVAS_WIDTH: '64', DEFAULT_CANVAS_HEIGHT: '48', PIXEL_RATE: '100', PIXEL_BURST: '16' })
  const [w, h, left, top] = [12, 9, 40, 30]
  const rgb = Buffer.alloc(w * h * 3)
  for (let i = 0; i < w * h; i++) rgb.writeUIntBE((i * 0x3b1f7 + 0x10203) & 0xffffff, i * 3, 3)
  const file = join(tempDir(t), 'picture.png')
  writeFileSync(file, await encodePng(w, h, rgb))

  const bot = spawnProcess(t, process.execPath, ['--conditions=pixelwire-source', '--import', 'tsx', 'docs/examples/bot.ts', file, String(left), String(top), srv.wsUrl], { JWT_SECRET: SECRET })
  const { code } = await within(bot.exited, 60_000, 'the bot exits')
  t.equal(code, 0, `the bot exited 0 (stderr: ${bot.err()})`)
  t.match(bot.err(), /9 of 9 rows confirmed/)

  const server = await serverPicture(srv.url)
  let wrong = 0
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const o = ((top + y) * 64 + left + x) * 3
      if (!server.rgb.subarray(o, o + 3).equals(rgb.subarray((y * w + x) * 3, (y * w + x) * 3 + 3))) wrong++
    }
  }
  t.equal(wrong, 0, `all ${w * h} pixels are on the canvas`)
  t.equal(server.seq, w * h, 'each painted once')
  const metrics = await (await fetch(`${srv.url}/metrics`)).text()
  t.notMatch(metrics, /^pixelwire_pixels_rejected_total\{reason="RATE_LIMITED"\} [1-9]/m, 'no pixel refused for the rate')
  const by = await (await fetch(`${srv.url}/api/canvases/main/pixels/${left}/${top}`)).json() as { user: string }
  t.equal(by.user, 'bot:png', 'painted by the bot\'s token')
})
