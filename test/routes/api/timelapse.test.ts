// The canvas as it was (issue 13 point 5): GET snapshot.png?seq=N and GET
// timelapse, over real HTTP, against a real SQLite file with a bounded series
// of stored snapshots (SNAPSHOT_KEEP) and the change log.
import { inflateSync } from 'node:zlib'
import t from 'tap'
import { listen, type Listening } from '../../helper.js'
import { readPng } from './helper.js'

const W = 16
const H = 8

type Srv = Listening

async function get (srv: Srv, path: string, headers: Record<string, string> = {}) {
  const res = await fetch(srv.url + path, { headers })
  return { status: res.status, headers: res.headers, body: Buffer.from(await res.arrayBuffer()) }
}

function mainOf (srv: Srv) {
  return srv.app.canvases.get('main') as NonNullable<ReturnType<typeof srv.app.canvases.get>>
}

/** Commit a rect now, and let the stored snapshot that may follow be written. */
async function draw (srv: Srv, x: number, y: number, w: number, h: number, color: number): Promise<number> {
  const main = mainOf(srv)
  srv.app.canvases.draw(main, { kind: 'rect', x, y, w, h, color }, 'u', 0)
  srv.app.canvases.flush()
  await srv.app.canvases.snapshot(main)
  await new Promise((resolve) => setImmediate(resolve))
  return main.seq
}

const rgbAt = (rgb: Buffer, x: number, y: number) => [...rgb.subarray((y * W + x) * 3, (y * W + x) * 3 + 3)]

/** An independent APNG reader: acTL's frame count and each frame's RGB (full-size frames, filter 0). */
function readApng (png: Buffer): { frames: number, delays: number[], rgb: Buffer[] } {
  let off = 8
  let frames = -1
  const delays: number[] = []
  const datas: Buffer[][] = []
  while (off < png.length) {
    const len = png.readUInt32BE(off)
    const type = png.subarray(off + 4, off + 8).toString('latin1')
    const data = png.subarray(off + 8, off + 8 + len)
    if (type === 'acTL') frames = data.readUInt32BE(0)
    if (type === 'fcTL') { delays.push(data.readUInt16BE(20) / data.readUInt16BE(22)); datas.push([]) }
    if (type === 'IDAT') datas[datas.length - 1].push(data)
    if (type === 'fdAT') datas[datas.length - 1].push(data.subarray(4))
    off += 12 + len
  }
  const rgb = datas.map((d) => {
    const raw = inflateSync(Buffer.concat(d))
    const out = Buffer.alloc(W * H * 3)
    for (let y = 0; y < H; y++) raw.copy(out, y * W * 3, y * (W * 3 + 1) + 1, (y + 1) * (W * 3 + 1))
    return out
  })
  return { frames, delays, rgb }
}

const ENV = { DEFAULT_CANVAS_WIDTH: String(W), DEFAULT_CANVAS_HEIGHT: String(H), TICK_MS: '10000' }

t.test('snapshot.png?seq=N is the canvas at N: immutable, ETag epoch-N, 304, and the documented 4xx', async (t) => {
  const srv = await listen(t, { ...ENV, SNAPSHOT_EVERY: '5' })
  const main = mainOf(srv)
  const s1 = await draw(srv, 0, 0, 2, 2, 0xff0000) // 4 changes
  const s2 = await draw(srv, 4, 0, 3, 2, 0x00ff00) // 6 more: a snapshot is stored at 10
  const s3 = await draw(srv, 0, 0, 1, 1, 0x0000ff) // 1 more, over the first rect
  t.same([s1, s2, s3], [4, 10, 11])

  for (const [seq, want] of [
    [0, { r00: [255, 255, 255], r40: [255, 255, 255] }],
    [3, { r00: [255, 0, 0], r40: [255, 255, 255] }],
    [4, { r00: [255, 0, 0], r40: [255, 255, 255] }],
    [7, { r00: [255, 0, 0], r40: [0, 255, 0] }],
    [10, { r00: [255, 0, 0], r40: [0, 255, 0] }],
    [11, { r00: [0, 0, 255], r40: [0, 255, 0] }]
  ] as const) {
    const res = await get(srv, `/api/canvases/main/snapshot.png?seq=${seq}`)
    t.equal(res.status, 200, `seq ${seq}`)
    t.equal(res.headers.get('etag'), `"${main.epoch}-${seq}"`)
    t.equal(res.headers.get('cache-control'), 'public, max-age=31536000, immutable')
    t.equal(res.headers.get('content-type'), 'image/png')
    const png = readPng(res.body)
    t.same([rgbAt(png.rgb, 0, 0), rgbAt(png.rgb, 4, 0)], [want.r00, want.r40], `pixels at seq ${seq}`)
  }
  // seq 3 is inside the first rect's batch: 3 of its 4 changes, in log order (row by row).
  const mid = readPng((await get(srv, '/api/canvases/main/snapshot.png?seq=3')).body)
  t.same([rgbAt(mid.rgb, 1, 1), rgbAt(mid.rgb, 0, 1)], [[255, 255, 255], [255, 0, 0]], 'a seq in the middle of a batch')
  const now = readPng((await get(srv, `/api/canvases/main/snapshot.png?seq=${s3}`)).body)
  t.ok(now.rgb.equals(main.pixels), 'the current seq is the live canvas')

  const builds = srv.app.timelapse.stats.builds
  t.equal((await get(srv, '/api/canvases/main/snapshot.png?seq=7')).status, 200)
  t.equal(srv.app.timelapse.stats.builds, builds, 'cached: no second build')
  const nm = await get(srv, '/api/canvases/main/snapshot.png?seq=7', { 'if-none-match': `"${main.epoch}-7"` })
  t.equal(nm.status, 304)
  t.equal(nm.body.length, 0)

  const bad = async (path: string, status: number, error: string) => {
    const res = await get(srv, path)
    t.equal(res.status, status, path)
    t.match(JSON.parse(res.body.toString()), { error, message: String }, `${path}: ${error}`)
  }
  await bad('/api/canvases/main/snapshot.png?seq=12', 404, 'SEQ_NOT_REACHED')
  await bad('/api/canvases/main/snapshot.png?seq=-1', 400, 'BAD_REQUEST')
  await bad('/api/canvases/main/snapshot.png?seq=x', 400, 'BAD_REQUEST')
  await bad('/api/canvases/main/snapshot.png?seq=1.5', 400, 'BAD_REQUEST')
  await bad('/api/canvases/main/snapshot.png?seq=1&epoch=old', 410, 'EPOCH_GONE')
  await bad('/api/canvases/main/snapshot.png?epoch=x', 400, 'BAD_REQUEST')
  await bad('/api/canvases/nope/snapshot.png?seq=1', 404, 'CANVAS_NOT_FOUND')
  t.equal((await get(srv, `/api/canvases/main/snapshot.png?seq=1&epoch=${main.epoch}`)).status, 200, 'the right epoch')
})

t.test('only SNAPSHOT_KEEP snapshots are kept; a seq further than the bounded replay from all of them is 410', async (t) => {
  // SEND_BUFFER_BYTES 16384: batches of at most 1170 changes, so the replay
  // bound is 2 * (100 + 1170) = 2540 changes.
  const srv = await listen(t, { ...ENV, SNAPSHOT_EVERY: '100', SNAPSHOT_KEEP: '2', SEND_BUFFER_BYTES: '16384', MAX_RECT_PIXELS: '128' })
  for (let i = 0; i < 30; i++) await draw(srv, 0, 0, W, H, i * 8) // 128 changes each: 3840
  const store = srv.app.canvasStore
  const oldest = store.oldestSnapshotSeq('main') as number
  t.equal(srv.app.db.prepare("SELECT count(*) FROM snapshots WHERE canvas = 'main'").pluck().get(), 2, 'two kept')
  t.ok(oldest > 2540, `the oldest kept is at ${oldest}`)
  const gone = await get(srv, `/api/canvases/main/snapshot.png?seq=${oldest - 1}`)
  t.equal(gone.status, 410, 'just before the oldest kept snapshot, too far from seq 0')
  t.match(JSON.parse(gone.body.toString()), { error: 'SEQ_NOT_KEPT', message: new RegExp(`seqs 0..2540 and from ${oldest} on`) })
  t.equal((await get(srv, '/api/canvases/main/snapshot.png?seq=2540')).status, 200, 'within the replay bound of seq 0 (the blank canvas)')
  t.equal((await get(srv, '/api/canvases/main/snapshot.png?seq=2541')).status, 410, 'one further')
  const replayed = srv.app.timelapse.stats.changesReplayed
  t.equal((await get(srv, `/api/canvases/main/snapshot.png?seq=${oldest + 1}`)).status, 200, 'after the oldest kept')
  t.equal(srv.app.timelapse.stats.changesReplayed - replayed, 1, 'one change replayed onto that snapshot')
  const tl = readApng((await get(srv, '/api/canvases/main/timelapse?frames=3')).body)
  t.equal(tl.frames, 3, 'a timelapse starts at the oldest kept snapshot')
})

t.test('timelapse: an APNG of evenly spaced frames; bounded frames and bytes; cached; busy and rate limited', async (t) => {
  const srv = await listen(t, { ...ENV, SNAPSHOT_EVERY: '4', TIMELAPSE_MAX_FRAMES: '10', TIMELAPSE_RATE_LIMIT: '8' })
  const main = mainOf(srv)
  for (let i = 0; i < 8; i++) await draw(srv, i * 2, 0, 2, 1, 0x100000 * (i + 1)) // 2 changes each: seq 16
  const res = await get(srv, '/api/canvases/main/timelapse?frames=5')
  t.equal(res.status, 200)
  t.equal(res.headers.get('content-type'), 'image/png')
  t.equal(res.headers.get('etag'), `"${main.epoch}-16-5"`)
  t.equal(res.headers.get('cache-control'), 'public, max-age=60')
  const a = readApng(res.body)
  t.equal(a.frames, 5)
  t.same(a.delays, [0.25, 0.25, 0.25, 0.25, 0.25])
  // frames at seq 0, 4, 8, 12, 16: 0, 2, 4, 6, 8 rects drawn
  a.rgb.forEach((rgb, f) => {
    const drawn = [0, 1, 2, 3, 4, 5, 6, 7].map((i) => rgbAt(rgb, i * 2, 0)[0] !== 255)
    t.same(drawn, [0, 1, 2, 3, 4, 5, 6, 7].map((i) => i < f * 2), `frame ${f}`)
  })
  t.ok(a.rgb[4].equals(main.pixels), 'the last frame is the canvas now')
  t.same(readPng(res.body).rgb, a.rgb[0], 'a browser without APNG shows the first frame')

  const builds = srv.app.timelapse.stats.builds
  await draw(srv, 0, 1, 1, 1, 0)
  const again = await get(srv, '/api/canvases/main/timelapse?frames=5', { 'if-none-match': `"${main.epoch}-16-5"` })
  t.equal(again.status, 304, 'within TIMELAPSE_TTL_MS the cached one is served, new changes or not')
  t.equal(srv.app.timelapse.stats.builds, builds)
  const def = readApng((await get(srv, '/api/canvases/main/timelapse')).body)
  t.equal(def.frames, 10, 'default 24, capped by TIMELAPSE_MAX_FRAMES')

  for (const q of ['frames=0', 'frames=11', 'frames=x', 'frames=1.5']) {
    const r = await get(srv, `/api/canvases/main/timelapse?${q}`)
    t.equal(r.status, 400, q)
    t.match(JSON.parse(r.body.toString()), { error: 'BAD_REQUEST' })
  }
  t.equal((await get(srv, '/api/canvases/nope/timelapse')).status, 404)
  // 8 a minute: the ninth is refused
  const r = await get(srv, '/api/canvases/main/timelapse?frames=2')
  t.equal(r.status, 429)
})

t.test('timelapse: over TIMELAPSE_MAX_BYTES is 413; nothing may wait past TIMELAPSE_MAX_QUEUED (503)', async (t) => {
  const big = await listen(t, { ...ENV, SNAPSHOT_EVERY: '4', TIMELAPSE_MAX_BYTES: '1024' })
  // noise does not compress: each frame is several hundred bytes
  for (let i = 0; i < W * H; i++) big.app.canvases.draw(mainOf(big), { kind: 'rect', x: i % W, y: Math.floor(i / W), w: 1, h: 1, color: (i * 2654435761) % 0xffffff }, 'u', 0)
  big.app.canvases.flush()
  const tooBig = await get(big, '/api/canvases/main/timelapse?frames=10')
  t.equal(tooBig.status, 413)
  t.match(JSON.parse(tooBig.body.toString()), { error: 'TOO_LARGE', message: /fewer frames/ })

  const busy = await listen(t, { ...ENV, TIMELAPSE_MAX_QUEUED: '0' })
  await draw(busy, 0, 0, 1, 1, 0)
  const r = await get(busy, '/api/canvases/main/snapshot.png?seq=0')
  t.equal(r.status, 503)
  t.ok(Number(r.headers.get('retry-after')) >= 1)
  t.match(JSON.parse(r.body.toString()), { error: 'BUSY' })
  t.equal((await get(busy, '/api/canvases/main/snapshot.png?seq=1')).status, 200, 'the current seq needs no build')
})
