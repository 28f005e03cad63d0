// The canvas service with a real SQLite file, the in-memory broker and fake
// clients: commit before broadcast, one frame for all, and catch-up for
// whoever fell behind. (The tick scheduler and the room alone: their own tests.)
import { join } from 'node:path'
import t, { type Test } from 'tap'
import { createCanvasService, canvasTopic, type CanvasClient } from '../../../src/canvas/canvas-service.js'
import { SharedFrame } from '../../../src/connection/connection.js'
import { createMemoryBroker } from '../../../src/broker/memory.js'
import { createPipeline } from '../../../src/hub/fanout.js'
import { openDatabase } from '../../../src/persistence/db.js'
import { createCanvasStore } from '../../../src/persistence/canvas-store.js'
import { createCanvasLog } from '../../../src/persistence/canvas-log.js'
import { MIGRATIONS_DIR } from '../../../src/paths.js'
import { tempDir, parseUpdates, parseSnapshot, until } from '../../helper.js'

class FakeClient implements CanvasClient {
  closed = false
  bufferedBytes = 0
  sent: Array<Buffer | string> = []
  constructor (readonly id: number) {}
  send (data: Buffer | string): boolean { this.sent.push(data); return true }
  frames (op: number) { return this.sent.filter((d): d is Buffer => Buffer.isBuffer(d) && d[0] === op) }
}

const silent = { info () {}, warn () {}, error () {} }
type Tap = { teardown (fn: () => unknown): void }

function setup (t: Tap, file = join(tempDir(t), 'c.db'), over: { maxPendingPixels?: number, snapshotEvery?: number, maxReplay?: number, tickMs?: number, tickMaxMs?: number, frameBudget?: number, framesWritten?: () => number, afterFlush?: () => void, afterBeat?: () => void } = {}) {
  const db = openDatabase({ file, migrationsDir: MIGRATIONS_DIR })
  t.teardown(() => { if (db.open) db.close() })
  const store = createCanvasStore(db)
  const { hub, broker, fanout } = createPipeline<FakeClient>(createMemoryBroker())
  const svc = createCanvasService<FakeClient>({
    store,
    canvasLog: createCanvasLog(store),
    hub,
    broker,
    fanout,
    log: silent,
    tickMs: 50,
    maxPendingPixels: 100,
    maxReplay: 1000,
    sendBufferBytes: 1000,
    snapshotEvery: 1000,
    defaultCanvas: { id: 'main', width: 8, height: 4 },
    ...over
  })
  svc.load()
  return { db, store, hub, svc, canvas: svc.get('main')! }
}

const rec = (x: number, y: number, c: number) => Buffer.from([0, x, 0, y, c >> 16, (c >> 8) & 255, c & 255])
const px = (records: Buffer) => ({ kind: 'pixels' as const, records })

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

/** Draw pixel n (colour n) on the canvas every `everyMs` until stopped; stop() says how many were drawn. */
function painting (svc: ReturnType<typeof setup>['svc'], canvas: ReturnType<typeof setup>['canvas'], everyMs: number) {
  let n = 0
  const timer = setInterval(() => { svc.draw(canvas, px(rec(n % 8, (n >> 3) % 4, n)), 'u', 1); n++ }, everyMs)
  return { stop (): number { clearInterval(timer); return n } }
}

/** The UPDATES frames carry pixels from..to-1 (colour = index), in order, each frame's seq its last pixel's. */
function inOrder (t: Test, frames: Buffer[], from: number, to: number, what: string): void {
  const got = frames.flatMap((f) => parseUpdates(f).px)
  t.same(got.map((p) => (p[2] << 16) | (p[3] << 8) | p[4]), Array.from({ length: to - from }, (_v, i) => from + i), `${what}: every pixel, in order`)
  let seq = from
  for (const f of frames) { const u = parseUpdates(f); t.equal(u.seq, seq + u.px.length); seq = u.seq }
}

t.test('a tick commits, then sends one shared frame to clients in sync', async (t) => {
  const { svc, canvas, store } = setup(t)
  t.equal(canvas.width, 8)
  const a = new FakeClient(1)
  const b = new FakeClient(2)
  svc.attach(a, canvas, 0)
  svc.attach(b, canvas, 0)
  t.equal(svc.seqOf(a, canvas), 0, 'replay of nothing leaves the client live at seq 0')
  t.equal(svc.draw(canvas, px(Buffer.concat([rec(1, 1, 0xff0000), rec(2, 1, 0x00ff00)])), 'u', 1), null)
  t.equal(canvas.seq, 0, 'not applied before the commit')
  t.equal(canvas.colorAt(1, 1), 0xffffff)
  t.equal(a.frames(0x11).length, 0, 'nothing sent before the tick')
  svc.flush()
  t.equal(canvas.seq, 2)
  t.equal(store.get('main')?.seq, 2, 'committed')
  t.equal(canvas.colorAt(1, 1), 0xff0000)
  t.equal(a.frames(0x11)[0], b.frames(0x11)[0], 'the very same buffer for both')
  t.same(parseUpdates(a.frames(0x11)[0]).px, [[1, 1, 255, 0, 0], [2, 1, 0, 255, 0]])
  t.equal(svc.seqOf(a, canvas), 2)
  svc.flush()
  t.equal(a.frames(0x11).length, 1, 'an empty tick sends nothing')
})

t.test('a rect becomes its pixels, row by row', async (t) => {
  const { svc, canvas } = setup(t)
  const a = new FakeClient(1)
  svc.attach(a, canvas, 0)
  svc.draw(canvas, { kind: 'rect', x: 6, y: 2, w: 2, h: 2, color: 0x010203 }, 'u', 1)
  svc.flush()
  t.same(parseUpdates(a.frames(0x11)[0]).px, [[6, 2, 1, 2, 3], [7, 2, 1, 2, 3], [6, 3, 1, 2, 3], [7, 3, 1, 2, 3]])
})

t.test('a full batch rejects the op whole with UNAVAILABLE', async (t) => {
  const { svc, canvas } = setup(t, undefined, { maxPendingPixels: 3 })
  t.equal(svc.draw(canvas, px(Buffer.concat([rec(0, 0, 1), rec(1, 0, 1)])), 'u', 1), null)
  const err = svc.draw(canvas, px(Buffer.concat([rec(2, 0, 1), rec(3, 0, 1)])), 'u', 1)
  t.match(err, { code: 'UNAVAILABLE', retryAfterMs: 50 })
  svc.flush()
  t.equal(canvas.seq, 2, 'only the accepted op committed')
})

t.test('a client over its send buffer skips frames, then catches up from the log', async (t) => {
  const { svc, canvas } = setup(t)
  const fast = new FakeClient(1)
  const slow = new FakeClient(2)
  svc.attach(fast, canvas, 0)
  svc.attach(slow, canvas, 0)
  slow.bufferedBytes = 5000
  svc.draw(canvas, px(rec(0, 0, 1)), 'u', 1); svc.flush()
  svc.draw(canvas, px(rec(1, 0, 2)), 'u', 1); svc.flush()
  t.equal(fast.frames(0x11).length, 2)
  t.equal(slow.frames(0x11).length, 0, 'no live frames while over the cap')
  t.equal(svc.seqOf(slow, canvas), 0)
  slow.bufferedBytes = 0
  svc.flush() // drained: caught up on the next tick even without new changes
  const caught = slow.frames(0x11)
  t.equal(caught.length, 1)
  t.same(parseUpdates(caught[0]), { seq: 2, px: [[0, 0, 0, 0, 1], [1, 0, 0, 0, 2]] })
  svc.draw(canvas, px(rec(2, 0, 3)), 'u', 1); svc.flush()
  t.same(parseUpdates(slow.frames(0x11)[1]).seq, 3, 'live again after the catch-up')
})

t.test('a snapshot joiner gets the snapshot, then exactly what committed since', async (t) => {
  const { svc, canvas } = setup(t)
  svc.draw(canvas, px(rec(0, 0, 0x111111)), 'u', 1); svc.flush()
  const c = new FakeClient(3)
  svc.attach(c, canvas, null)
  t.equal(svc.seqOf(c, canvas), null, 'syncing while the snapshot compresses')
  // A tick during the compression: the client is skipped, not sent a gap.
  svc.draw(canvas, px(rec(1, 0, 0x222222)), 'u', 1); svc.flush()
  t.equal(c.frames(0x11).length, 0)
  await svc.snapshot(canvas)
  await new Promise((resolve) => setImmediate(resolve))
  const snap = parseSnapshot(c.frames(0x10)[0])
  t.equal(snap.seq, 1, 'the snapshot compressed at join time')
  t.same(snap.at(0, 0), [0x11, 0x11, 0x11])
  t.same(parseUpdates(c.frames(0x11)[0]), { seq: 2, px: [[1, 0, 0x22, 0x22, 0x22]] }, 'then the change it missed')
  t.equal(svc.seqOf(c, canvas), 2)
})

t.test('joiners share one compression per seq', async (t) => {
  const { svc, canvas } = setup(t)
  const p1 = svc.snapshot(canvas)
  const p2 = svc.snapshot(canvas)
  t.equal(p1, p2, 'in flight: shared')
  await p1
  t.equal(svc.snapshot(canvas), p1, 'same seq: cached')
  svc.draw(canvas, px(rec(0, 0, 1)), 'u', 1); svc.flush()
  t.not(svc.snapshot(canvas), p1, 'new seq: recompressed')
})

t.test('a failed commit is never shown and the painters hear it', async (t) => {
  const { svc, canvas, db } = setup(t)
  const painter = new FakeClient(7)
  const other = new FakeClient(8)
  svc.attach(painter, canvas, 0)
  svc.attach(other, canvas, 0)
  svc.draw(canvas, px(rec(0, 0, 1)), 'u', 7)
  db.exec('CREATE TRIGGER fail BEFORE INSERT ON change_log BEGIN SELECT RAISE(ABORT, \'disk full\'); END')
  svc.flush()
  t.equal(canvas.seq, 0)
  t.equal(canvas.colorAt(0, 0), 0xffffff, 'not applied')
  t.equal(other.frames(0x11).length, 0, 'not broadcast')
  t.match(JSON.parse(painter.sent.find((m) => typeof m === 'string') as string), { type: 'error', code: 'UNAVAILABLE' })
  db.exec('DROP TRIGGER fail')
  svc.draw(canvas, px(rec(0, 0, 2)), 'u', 7); svc.flush()
  t.equal(canvas.seq, 1, 'recovers when storage does')
  t.equal(parseUpdates(other.frames(0x11)[0]).seq, 1)
})

t.test('boot rebuilds from the newest snapshot plus the log after it', async (t) => {
  const file = join(tempDir(t), 'boot.db')
  const first = setup(t, file, { snapshotEvery: 2 })
  for (let i = 0; i < 5; i++) { first.svc.draw(first.canvas, px(rec(i, 1, 0x0a0000 + i)), 'u', 1); first.svc.flush() }
  await first.svc.snapshot(first.canvas)
  // snapshotEvery stores in the background: wait for one, not for a guessed time
  await until(() => first.store.latestSnapshot('main') !== undefined, 10000, 'a snapshot stored')
  const stored = first.store.latestSnapshot('main')
  t.ok(stored !== undefined && stored.seq >= 2 && stored.seq < 5, `a snapshot was stored at seq ${stored?.seq}`)
  const pixels = Buffer.from(first.canvas.pixels)
  const epoch = first.canvas.epoch
  first.db.close()
  const second = setup(t, file)
  t.equal(second.canvas.seq, 5)
  t.equal(second.canvas.epoch, epoch)
  t.ok(second.canvas.pixels.equals(pixels), 'same pixels after reboot')
  t.equal(canvasTopic('main'), 'canvas:main')
})

t.test('a tick commits at most half a send buffer; the rest waits, one frame per tick', async (t) => {
  // sendBufferBytes 1000 → at most 71 records (497 bytes) per frame
  const { svc, canvas, store } = setup(t, undefined, { maxPendingPixels: 1000 })
  const a = new FakeClient(1)
  svc.attach(a, canvas, 0)
  const all: Buffer[] = []
  for (let i = 0; i < 32; i++) all.push(rec(i % 8, i % 4, i))
  svc.draw(canvas, px(Buffer.concat(all.slice(0, 20))), 'u1', 1)
  svc.draw(canvas, px(Buffer.concat(all.slice(20))), 'u2', 2)
  for (let i = 0; i < 4; i++) svc.draw(canvas, { kind: 'rect', x: 0, y: 0, w: 8, h: 4, color: i }, 'u3', 3)
  // 32 + 4 × 32 = 160 pending: three ticks of 71, 71, 18
  svc.flush()
  t.equal(canvas.seq, 71)
  t.equal(svc.pendingCount('main'), 89)
  svc.flush()
  svc.flush()
  t.equal(canvas.seq, 160)
  const frames = a.frames(0x11)
  t.same(frames.map((f) => parseUpdates(f).px.length), [71, 71, 18], 'one frame per tick, none over half the buffer')
  t.ok(frames.every((f) => f.length <= 13 + 500), 'header + at most half the buffer')
  t.same(parseUpdates(frames[0]).px.slice(0, 20).map((p) => p[4]), Array.from({ length: 20 }, (_, i) => i), 'order kept')
  t.equal(store.pixelAt('main', 4, 0)?.user, 'u3', 'authorship follows the split')
  t.same(store.changesAfter('main', 20, 1), rec(20 % 8, 20 % 4, 20), 'u2\'s first pixel is seq 21')
  t.same([store.pixelAt('main', 4, 0)?.color, store.pixelAt('main', 4, 0)?.seq], [3, 160 - 32 + 5])
})

t.test('a client further behind than maxReplay when it drains gets a fresh snapshot', async (t) => {
  const { svc, canvas } = setup(t, undefined, { maxReplay: 2 })
  const slow = new FakeClient(1)
  svc.attach(slow, canvas, 0)
  slow.bufferedBytes = 5000
  for (let i = 0; i < 3; i++) { svc.draw(canvas, px(rec(i, 0, 9)), 'u', 1); svc.flush() }
  slow.bufferedBytes = 0
  svc.flush()
  t.equal(svc.seqOf(slow, canvas), null, 'resyncing by snapshot, not by a 3-change replay')
  await svc.snapshot(canvas)
  await new Promise((resolve) => setImmediate(resolve))
  t.equal(slow.frames(0x11).length, 0)
  t.equal(parseSnapshot(slow.frames(0x10)[0]).seq, 3)
  t.equal(svc.seqOf(slow, canvas), 3)
  svc.draw(canvas, px(rec(7, 0, 9)), 'u', 1); svc.flush()
  t.equal(parseUpdates(slow.frames(0x11)[0]).seq, 4, 'then live')
})

class SharedClient extends FakeClient {
  shared: SharedFrame[] = []
  sendShared (f: SharedFrame): boolean { this.shared.push(f); return this.send(f.data) }
}

t.test('a tick broadcasts one SharedFrame, the same instance for every client that can take it', async (t) => {
  const { svc, canvas } = setup(t)
  const a = new SharedClient(1)
  const b = new SharedClient(2)
  const c = new FakeClient(3)
  for (const x of [a, b, c]) svc.attach(x, canvas, 0)
  svc.draw(canvas, px(rec(1, 1, 0x123456)), 'u', 1)
  svc.flush()
  t.equal(a.shared.length, 1)
  t.equal(a.shared[0], b.shared[0], 'framed once for all')
  t.equal(c.frames(0x11)[0], a.shared[0].data, 'a client without sendShared gets the same payload')
  t.same(parseUpdates(a.shared[0].data as Buffer).px, [[1, 1, 0x12, 0x34, 0x56]])
})

t.test('a fixed tick (tickMaxMs unset) never stretches', async (t) => {
  const { svc, canvas } = setup(t, undefined, { tickMs: 10, frameBudget: 1 })
  const slow = new FakeClient(1)
  svc.attach(slow, canvas, 0)
  svc.start()
  svc.start() // idempotent
  svc.draw(canvas, px(rec(1, 1, 1)), 'u', 1)
  // The frame is sent at the first beat (a wait on it: under load that beat
  // may come late); then 100 ms of beats in which it must not stretch.
  await until(() => slow.frames(0x11).length === 1, 10000, 'the frame sent', 5)
  await new Promise((resolve) => setTimeout(resolve, 100))
  svc.stop()
  t.equal(svc.tick.periodMs, 10)
  t.equal(svc.tick.stretched, 0)
  t.equal(slow.frames(0x11).length, 1)
})

t.test('adaptive tick: slow sending stretches the tick, a slow commit does not', async (t) => {
  const { svc, canvas } = setup(t, undefined, { tickMs: 10, tickMaxMs: 500 })
  let delay = 40
  const slow = new (class extends FakeClient {
    override send (data: Buffer | string): boolean {
      // CPU time, not wall time: the tick measures sending in CPU time, and
      // under load a wall-clock spin gets a fraction of a core (CI once saw 0 stretches)
      burnCpu(delay)
      return super.send(data)
    }
  })(1)
  svc.attach(slow, canvas, 0)
  svc.start()
  svc.draw(canvas, px(rec(1, 1, 1)), 'u', 1)
  // the beat that sent the frame ended (endBeat runs in the same flush) once the frame is here
  while (slow.frames(0x11).length === 0) await new Promise((resolve) => setTimeout(resolve, 5))
  // The stretched period lasts one tick (the next, empty flush sends
  // nothing): count it rather than catch it; nextTickMs' value is tested above.
  t.ok(svc.tick.stretched >= 1, `the tick was stretched (${svc.tick.stretched})`)
  delay = 0
  svc.draw(canvas, px(rec(2, 1, 1)), 'u', 1)
  // shrinking takes SHRINK_AFTER rotations: wait for it (bounded) rather than guess its time under load
  for (const deadline = Date.now() + 10_000; svc.tick.periodMs !== 10 && Date.now() < deadline;) {
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
  t.equal(svc.tick.periodMs, 10, 'fast again: the configured tick')
  svc.stop()
  t.equal(slow.frames(0x11).length, 2, 'every pixel sent')
})

/** Spend `ms` of this process's CPU time (not wall time: under load a wall-clock spin gets less CPU). */
function burnCpu (ms: number): void {
  const start = process.cpuUsage()
  for (;;) {
    const used = process.cpuUsage(start)
    if ((used.user + used.system) / 1000 >= ms) return
  }
}

t.test('afterBeat runs after each timed beat and its CPU does not stretch the tick; afterFlush\'s does', async (t) => {
  for (const where of ['afterBeat', 'afterFlush'] as const) {
    let beats = 0
    let sentBefore = true
    let fourth = (): void => {}
    const fourBeats = new Promise<void>((resolve) => { fourth = resolve })
    const work = () => {
      if (++beats === 4) fourth()
      // the beat's frames are written before it runs
      if (where === 'afterBeat' && beats === 1) sentBefore = client.frames(0x11).length === 1
      if (beats <= 2) burnCpu(30)
    }
    const { svc, canvas } = setup(t, undefined, { tickMs: 10, tickMaxMs: 500, [where]: work })
    const client = new FakeClient(1)
    svc.attach(client, canvas, 0)
    svc.draw(canvas, px(rec(1, 1, 1)), 'u', 1)
    svc.start()
    await fourBeats
    svc.stop()
    if (where === 'afterBeat') {
      t.ok(sentBefore, 'afterBeat ran after the beat\'s frames')
      t.equal(svc.tick.stretched, 0, 'afterBeat: 30 ms of CPU did not stretch a 10 ms tick')
    } else {
      t.ok(svc.tick.stretched >= 1, `afterFlush: the same work stretched it (${svc.tick.stretched})`)
    }
  }
})

t.test('adaptive tick with a frame budget: frames of the last tick set the next period', async (t) => {
  const { svc, canvas } = setup(t, undefined, { tickMs: 10, tickMaxMs: 500, frameBudget: 100 })
  const clients = [1, 2, 3, 4, 5].map((id) => new FakeClient(id))
  for (const c of clients) svc.attach(c, canvas, 0)
  svc.start()
  svc.draw(canvas, px(rec(1, 1, 1)), 'u', 1)
  // Waits on the beats that set the period and send the frames, not on guessed times.
  await until(() => clients.every((c) => c.frames(0x11).length === 1), 10000, 'the first frames', 5)
  await until(() => svc.tick.periodMs !== 10, 10000, 'the next period set', 5)
  t.equal(svc.tick.periodMs, 50, '5 frames at 100 frames/s: 50 ms')
  svc.draw(canvas, px(rec(2, 1, 1)), 'u', 1)
  await until(() => clients.every((c) => c.frames(0x11).length >= 2), 10000, 'the second frames', 5)
  svc.stop()
  t.same(clients.map((c) => c.frames(0x11).length), [2, 2, 2, 2, 2], 'every pixel still reaches everyone')
})

t.test('adaptive tick under steady painting: fewer, fuller frames, every pixel in order', async (t) => {
  const { svc, canvas } = setup(t, undefined, { maxPendingPixels: 100_000, tickMs: 10, tickMaxMs: 400, frameBudget: 50 })
  const clients = [1, 2, 3, 4, 5].map((id) => new FakeClient(id)) // 5 frames a tick at 50/s: 100 ms ticks
  for (const c of clients) svc.attach(c, canvas, 0)
  svc.start()
  const p = painting(svc, canvas, 5)
  await sleep(600)
  const n = p.stop()
  t.equal(svc.tick.periodMs, 100, 'stretched to 100 ms')
  t.ok(svc.tick.stretched > 0)
  svc.stop()
  for (const c of clients) {
    const frames = c.frames(0x11)
    t.ok(frames.length <= 10, `${frames.length} frames, not ~60`)
    inOrder(t, frames, 0, n, `client ${c.id}`)
  }
})

t.test('adaptive tick with framesWritten: every frame since the last tick counts, not only UPDATES', async (t) => {
  let written = 0
  const { svc } = setup(t, undefined, { tickMs: 10, tickMaxMs: 500, frameBudget: 1000, framesWritten: () => written })
  svc.start()
  written += 100 // e.g. a presence broadcast to 100 clients: 100 ms at 1000 frames/s
  // Waits for the beat that reads the count, and for the quiet ones that
  // shrink the period again, rather than guessing their time under load.
  await until(() => svc.tick.periodMs !== 10, 10000, 'the period set from the count', 5)
  t.equal(svc.tick.periodMs, 100)
  t.equal(svc.tick.slots, 10, 'ten beats of 10 ms, one slot of clients each')
  await until(() => svc.tick.periodMs === 10, 10000, 'back to the configured tick', 5)
  t.equal(svc.tick.periodMs, 10, 'back to the configured tick once quiet')
  svc.stop()
})

t.test('a stretched tick sends one slot of clients per beat: a frame per client per period, every pixel in order', async (t) => {
  let beat = 0
  const log: Array<[beat: number, id: number]> = []
  const { svc, canvas } = setup(t, undefined, { maxPendingPixels: 100_000, tickMs: 10, tickMaxMs: 400, frameBudget: 200, afterFlush: () => { beat++ } })
  class Logged extends FakeClient {
    override send (data: Buffer | string): boolean {
      if (Buffer.isBuffer(data) && data[0] === 0x11) log.push([beat, this.id])
      return super.send(data)
    }
  }
  // 6 frames a period at 200 frames/s: 30 ms, i.e. 3 beats of 10 ms, 2 clients each
  const clients = [1, 2, 3, 4, 5, 6].map((id) => new Logged(id))
  for (const c of clients) svc.attach(c, canvas, 0)
  svc.start()
  const p = painting(svc, canvas, 3)
  await sleep(400)
  const n = p.stop()
  t.equal(svc.tick.slots, 3)
  t.equal(svc.tick.periodMs, 30)
  const lastBeat = beat
  svc.stop()
  const byBeat = new Map<number, number[]>()
  for (const [b, id] of log) if (b > 0 && b < lastBeat) byBeat.set(b, [...(byBeat.get(b) ?? []), id])
  t.ok(byBeat.size >= 10, `${byBeat.size} beats sent frames`)
  const mixed = [...byBeat.values()].filter((ids) => new Set(ids.map((id) => id % 3)).size > 1)
  t.same(mixed, [], 'after the first period, every beat sends one slot (connection id mod 3) only')
  t.ok([...byBeat.values()].every((ids) => ids.length <= 2), 'two clients a beat')
  for (const c of clients) {
    const frames = c.frames(0x11)
    inOrder(t, frames, 0, n, `client ${c.id}`)
    t.ok(frames.length <= lastBeat / 3 + 3, `client ${c.id}: ${frames.length} frames in ${lastBeat} beats`)
  }
})

t.test('a stretched tick: slots share a frame per seq; a newcomer behind its slot gets its own, then joins the slot\'s', async (t) => {
  const { svc, canvas } = setup(t, undefined, { maxPendingPixels: 100_000, tickMs: 10, tickMaxMs: 400, frameBudget: 200 })
  const clients = [3, 6, 9, 12, 15, 18].map((id) => new FakeClient(id)) // all in slot 0 of 3
  for (const c of clients) svc.attach(c, canvas, 0)
  svc.start()
  const p = painting(svc, canvas, 3)
  await sleep(150)
  const late = new FakeClient(21)
  const resumedAt = canvas.seq
  svc.attach(late, canvas, resumedAt) // resumed at the current seq: ahead of its slot
  await sleep(150)
  const n = p.stop()
  svc.stop()
  const lastFrames = clients.map((c) => c.frames(0x11).at(-2))
  t.ok(lastFrames.every((f) => f === lastFrames[0]), 'one frame instance for the whole slot')
  t.equal(late.frames(0x11).at(-2), lastFrames[0], 'the newcomer is in step with its slot after one period')
  // pixel i (colour i) is change i + 1: after its resume point, pixels resumedAt..n-1
  inOrder(t, late.frames(0x11), resumedAt, n, 'the newcomer')
  t.equal(svc.seqOf(late, canvas), canvas.seq)
})
