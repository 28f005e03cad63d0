// Shared bits of the client library's tests (not a test file itself): a
// library client on the `ws` package, the server's own picture (snapshot.png)
// to compare a local canvas with, and a TCP proxy whose connections a test
// can cut (a dropped network, with the server still up).
import { createServer, connect, type Socket } from 'node:net'
import WebSocket from 'ws'
import { PixelwireClient, type ClientOptions } from '../../src/client-lib/index.js'
import { readPng } from '../routes/api/helper.js'
import { token, TestClient, isHello, isSnapshot, type Listening } from '../helper.js'
// one free-port picker for every test (a server process that must come back on the same port)
export { freePort } from '../../bench/lib/redis.js'

type Tap = { teardown (fn: () => unknown): void }

/** A library client on `url` as `claims` (a fresh token per ask), closed in teardown. */
export function libClient (t: Tap, url: string, claims: Record<string, unknown>, opts: Partial<ClientOptions> = {}): PixelwireClient {
  const c = new PixelwireClient({
    url,
    WebSocket,
    auth: 'header',
    getToken: () => token(claims),
    backoff: { baseMs: 100, maxMs: 1000 },
    ...opts
  })
  t.teardown(() => c.close())
  return c
}

/** The server's committed picture: RGB rows and the seq of its ETag ("epoch-seq"). */
export async function serverPicture (httpUrl: string, canvas = 'main'): Promise<{ rgb: Buffer, seq: number, epoch: string, width: number, height: number }> {
  const res = await fetch(`${httpUrl}/api/canvases/${canvas}/snapshot.png`)
  if (res.status !== 200) throw new Error(`snapshot.png: ${res.status}`)
  const etag = /^"(.+)-(\d+)"$/.exec(res.headers.get('etag') ?? '')
  if (etag === null) throw new Error(`no ETag: ${res.headers.get('etag')}`)
  const png = readPng(Buffer.from(await res.arrayBuffer()))
  return { rgb: png.rgb, seq: Number(etag[2]), epoch: etag[1], width: png.width, height: png.height }
}

/** Resolves once `pred` holds, checking on each of the client's events and every 50 ms; rejects after ms. */
export function until (c: PixelwireClient, pred: () => boolean, ms = 10_000, what = 'condition'): Promise<void> {
  if (pred()) return Promise.resolve()
  return new Promise((resolve, reject) => {
    const check = () => { if (pred()) { done(); resolve() } }
    const offs = [c.on('updates', check), c.on('snapshot', check), c.on('state', check)]
    const poll = setInterval(check, 50)
    const timer = setTimeout(() => { done(); reject(new Error(`${what}: not within ${ms} ms`)) }, ms)
    const done = () => { clearTimeout(timer); clearInterval(poll); for (const off of offs) off() }
  })
}

/**
 * A TCP proxy to 127.0.0.1:port; cut() drops every connection it carries,
 * freeze() stops forwarding on them without closing (a silent network, or
 * one whose answers are lost). New connections are still carried.
 */
export async function proxy (t: Tap, port: number): Promise<{ port: number, cut: () => void, freeze: (direction?: 'both' | 'down') => void }> {
  const sockets = new Set<Socket>()
  const pairs = new Set<[Socket, Socket]>()
  const server = createServer((down) => {
    const up = connect(port, '127.0.0.1')
    sockets.add(down).add(up)
    pairs.add([down, up])
    down.pipe(up).pipe(down)
    const gone = () => { down.destroy(); up.destroy(); sockets.delete(down); sockets.delete(up) }
    down.on('error', gone).on('close', gone)
    up.on('error', gone).on('close', gone)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => { for (const s of sockets) s.destroy(); server.close() })
  return {
    port: (server.address() as { port: number }).port,
    cut: () => { for (const s of sockets) s.destroy() },
    /** 'down': only what the server sends is held back (the client's messages still arrive) */
    freeze: (direction = 'both') => {
      for (const [down, up] of pairs) {
        up.unpipe(down)
        up.pause()
        if (direction === 'both') { down.unpipe(up); down.pause() }
      }
      pairs.clear()
    }
  }
}

/** A raw WebSocket painter (no library) that has had its hello and snapshot. */
export async function rawPainter (t: Tap, srv: Listening, sub = 'raw'): Promise<TestClient> {
  const c = new TestClient(srv.wsUrl, { token: token({ sub }) })
  t.teardown(() => c.close())
  await c.opened
  await c.next(isHello)
  await c.next(isSnapshot)
  return c
}

/** A raw client's draws, committed: the seq its `synced` answers. */
export async function drawAndSync (c: TestClient, ops: Buffer[]): Promise<number> {
  for (const op of ops) c.send(op)
  c.send(JSON.stringify({ type: 'sync', id: 'raw' }))
  return (await c.next((m) => m.json?.type === 'synced' && m.json.id === 'raw', 5000)).json.seq
}
