// Worst-case cost of a past frame and of a timelapse (issue 13 point 5),
// measured on the real modules over a real SQLite file: a 1024x1024 canvas
// painted with random pixels (noise: the least compressible images), a
// snapshot stored every SNAPSHOT_EVERY changes except one skipped (a gap of
// twice that: the longest replay the bound allows), then
//   - snapshot.png?seq=N at the end of the gap (the most replayed changes),
//   - a timelapse of the maximum frames (60),
// each timed (wall, process CPU including libuv's thread pool) with the
// event-loop delay's max while it ran. Not a test: it asserts nothing.
//
//   npx tsx bench/timelapse.ts [--changes 1000000] [--snapshot-every 100000] [--frames 60]
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { monitorEventLoopDelay } from 'node:perf_hooks'
import { deflateSync } from 'node:zlib'
import { Canvas, blankPixels } from '../src/canvas/canvas.js'
import { createTimelapse } from '../src/canvas/timelapse.js'
import { createCanvasStore } from '../src/persistence/canvas-store.js'
import { openDatabase } from '../src/persistence/db.js'
import { MIGRATIONS_DIR } from '../src/paths.js'
import { PIXEL_RECORD_BYTES as RECORD } from '../src/protocol/wire.js'

const args = { changes: 1_000_000, 'snapshot-every': 100_000, frames: 60 }
const argv = process.argv.slice(2)
for (let i = 0; i < argv.length; i += 2) {
  const key = argv[i].replace(/^--/, '') as keyof typeof args
  if (!(key in args)) throw new Error(`unknown argument ${argv[i]}`)
  args[key] = Number(argv[i + 1])
}
const SIDE = 1024
const BATCH = Math.floor(1048576 / 2 / RECORD) // canvas-service's frameRecords at the default SEND_BUFFER_BYTES
const EVERY = args['snapshot-every']
const MAX_REPLAY = 2 * (EVERY + BATCH) // plugins/timelapse.ts

const dir = mkdtempSync(join(tmpdir(), 'pixelwire-timelapse-'))
const db = openDatabase({ file: join(dir, 'pixelwire.db'), migrationsDir: MIGRATIONS_DIR })
const store = createCanvasStore(db, { snapshotKeep: 1000 })
const row = { id: 'main', width: SIDE, height: SIDE, epoch: 'bench', seq: 0, createdAt: Date.now() }
store.insert(row)
const canvas = new Canvas(row, blankPixels(SIDE, SIDE))

// Paint: batches of BATCH random pixels; a snapshot after each batch that
// crosses SNAPSHOT_EVERY since the last one, except the third (the gap).
let t0 = performance.now()
let stored = 0
let crossings = 0
let gapEnd = 0
while (canvas.seq < args.changes) {
  const n = Math.min(BATCH, args.changes - canvas.seq)
  const records = Buffer.allocUnsafe(n * RECORD)
  for (let i = 0; i < n; i++) {
    const o = i * RECORD
    records.writeUInt16BE(Math.floor(Math.random() * SIDE), o)
    records.writeUInt16BE(Math.floor(Math.random() * SIDE), o + 2)
    records[o + 4] = Math.random() * 256
    records[o + 5] = Math.random() * 256
    records[o + 6] = Math.random() * 256
  }
  const { to } = store.append('main', records, [{ user: 'bench', count: n }])
  canvas.apply(records)
  canvas.seq = to
  if (canvas.seq - stored >= EVERY) {
    crossings++
    if (crossings === 3) {
      gapEnd = -1 // skipped: the next stored one closes the gap
    } else {
      if (gapEnd === -1) gapEnd = canvas.seq
      store.saveSnapshot('main', canvas.seq, deflateSync(canvas.pixels))
    }
    stored = canvas.seq
  }
}
const paintS = (performance.now() - t0) / 1000
const snaps = db.prepare('SELECT seq FROM snapshots ORDER BY seq').pluck().all() as number[]
// the seq just before the snapshot that ends the gap: the most changes replayed
const worstSeq = gapEnd - 1
const before = snaps.filter((s) => s <= worstSeq).pop() ?? 0
console.log(`painted ${canvas.seq} changes in ${paintS.toFixed(1)} s; snapshots at ${snaps.join(', ')}`)
console.log(`replay bound ${MAX_REPLAY} changes; worst frame seq ${worstSeq}: ${worstSeq - before} changes after the snapshot at ${before}`)

const tl = createTimelapse({ store, maxReplay: MAX_REPLAY, maxFrames: args.frames, maxBytes: 1 << 30, cacheBytes: 0, ttlMs: 0, maxQueued: 8 })
const view = { id: 'main', epoch: 'bench', seq: canvas.seq, width: SIDE, height: SIDE, pixels: canvas.pixels }

async function measure (what: string, f: () => Promise<{ png: Buffer }>): Promise<void> {
  const loop = monitorEventLoopDelay({ resolution: 5 })
  loop.enable()
  const cpu0 = process.cpuUsage()
  t0 = performance.now()
  const replayed0 = tl.stats.changesReplayed
  const img = await f()
  const wall = performance.now() - t0
  const cpu = process.cpuUsage(cpu0)
  loop.disable()
  console.log(`${what}: ${wall.toFixed(0)} ms wall, ${((cpu.user + cpu.system) / 1000).toFixed(0)} ms CPU, ` +
    `${tl.stats.changesReplayed - replayed0} changes replayed, ${(img.png.length / 1048576).toFixed(1)} MiB, ` +
    `event-loop interval max ${(loop.max / 1e6).toFixed(0)} ms, p99 ${(loop.percentile(99) / 1e6).toFixed(0)} ms (5 ms resolution)`)
}

await measure(`snapshot.png?seq=${worstSeq} (worst replay)`, () => tl.frame(view, worstSeq))
await measure(`timelapse frames=${args.frames}`, () => tl.timelapse(view, args.frames))
await measure('timelapse frames=24', () => tl.timelapse(view, 24))
db.close()
rmSync(dir, { recursive: true, force: true })
