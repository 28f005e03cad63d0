// pixelwire/client across a server that dies: the server is a real process,
// killed with SIGKILL while draws are in flight, then started again on the
// same port and DATA_DIR. Every draw promise resolves (the unconfirmed ones
// were sent again), every drawn pixel is on the server's picture, and the
// client resumed by replay with no gap in its seqs.
import t from 'tap'
import type { DrawResult } from '../../src/client-lib/index.js'
import { SECRET, tempDir } from '../helper.js'
import { startServer, stop } from '../process.js'
import { freePort, libClient, serverPicture, until } from './helper.js'

t.test('kill -9 mid-draw: every draw confirmed after the restart, every pixel there, no gap', async (t) => {
  const port = await freePort()
  const env = { DATA_DIR: tempDir(t), JWT_SECRET: SECRET, TICK_MS: '20', PORT: String(port), DEFAULT_CANVAS_WIDTH: '64', DEFAULT_CANVAS_HEIGHT: '64', PIXEL_RATE: '150', PIXEL_BURST: '20' }
  const first = await startServer(t, env)
  const c = libClient(t, first.ws, { sub: 'bot' }, { backoff: { baseMs: 100, maxMs: 500 } })
  const hellos: string[] = []
  let gaps = 0
  let last = -1
  c.on('hello', (h) => hellos.push(h.resume))
  c.on('snapshot', (canvas) => { last = canvas.seq })
  c.on('updates', (u) => { if (u.seq - u.count !== last) gaps++; last = u.seq })
  await c.connect()

  // 600 one-pixel draws, each its own colour, paced by the budget (~4 s);
  // kill the server once 100 are confirmed.
  const N = 600
  const colour = (i: number) => 0x100000 + i * 97
  let confirmed = 0
  const draws: Array<Promise<DrawResult>> = []
  for (let i = 0; i < N; i++) draws.push(c.draw(i % 64, Math.floor(i / 64), colour(i)).then((r) => { confirmed++; return r }))
  await until(c, () => confirmed >= 100, 20_000, '100 draws confirmed')
  const killed = await stop(first, 'SIGKILL')
  t.equal(killed.signal, 'SIGKILL')
  const atKill = confirmed
  t.ok(atKill < N, `killed with ${N - atKill} draws not yet confirmed`)

  const second = await startServer(t, env)
  t.equal(second.port, port, 'back on the same port')
  const results = await Promise.all(draws)
  t.equal(results.length, N, 'every draw promise resolved')
  t.ok(hellos.length >= 2 && hellos.slice(1).every((r) => r === 'replay'), `resumed by replay (${hellos.join(', ')})`)
  t.equal(gaps, 0, 'UPDATES continued seq to seq across the restart')

  const server = await serverPicture(`http://127.0.0.1:${port}`)
  await until(c, () => c.canvas.seq >= server.seq, 5000, 'the client caught up')
  let missing = 0
  for (let i = 0; i < N; i++) {
    const o = ((Math.floor(i / 64)) * 64 + (i % 64)) * 3
    if (((server.rgb[o] << 16) | (server.rgb[o + 1] << 8) | server.rgb[o + 2]) !== colour(i)) missing++
  }
  t.equal(missing, 0, `all ${N} pixels are on the restarted server's picture`)
  t.ok(Buffer.from(c.canvas.rgb).equals(server.rgb), 'and the local canvas equals it')
  c.close()
  await stop(second)
})
