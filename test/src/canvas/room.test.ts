// A room alone, without a server or a tick: committed batches applied in
// order, a gap caught up from the log, duplicates and other epochs ignored,
// and one shared frame per beat for the clients in step.
import { join } from 'node:path'
import t from 'tap'
import type { CommitEvent } from '../../../src/broker/broker.js'
import { Canvas, blankPixels } from '../../../src/canvas/canvas.js'
import { Room, type CanvasClient } from '../../../src/canvas/room.js'
import { SharedFrame } from '../../../src/connection/connection.js'
import { createHub } from '../../../src/hub/hub.js'
import { createMeter } from '../../../src/metrics.js'
import { openDatabase } from '../../../src/persistence/db.js'
import { createCanvasStore } from '../../../src/persistence/canvas-store.js'
import { createCanvasLog } from '../../../src/persistence/canvas-log.js'
import { MIGRATIONS_DIR } from '../../../src/paths.js'
import { parseUpdates, tempDir } from '../../helper.js'

class FakeClient implements CanvasClient {
  closed = false
  bufferedBytes = 0
  sent: Array<Buffer | string> = []
  shared: SharedFrame[] = []
  constructor (readonly id: number) {}
  send (data: Buffer | string): boolean { this.sent.push(data); return true }
  sendShared (f: SharedFrame): boolean { this.shared.push(f); return this.send(f.data) }
  get updates () { return this.sent.filter((d): d is Buffer => Buffer.isBuffer(d) && d[0] === 0x11).map(parseUpdates) }
}

const silent = { info () {}, warn () {}, error () {} }
const rec = (x: number, y: number, c: number) => Buffer.from([0, x, 0, y, c >> 16, (c >> 8) & 255, c & 255])

function setup (t: { teardown (fn: () => unknown): void }) {
  const db = openDatabase({ file: join(tempDir(t), 'r.db'), migrationsDir: MIGRATIONS_DIR })
  t.teardown(() => db.close())
  const store = createCanvasStore(db)
  const row = { id: 'main', width: 8, height: 4, epoch: 'E', seq: 0, createdAt: 0 }
  store.insert(row)
  const log = createCanvasLog(store)
  const canvas = new Canvas(row, blankPixels(8, 4))
  const meter = createMeter()
  const stats = { lagged: 0, catchUpFrames: 0, snapshotsSent: 0, commitFailures: 0 }
  const frames = { count: 0 }
  const hub = createHub<FakeClient>()
  const room = new Room<FakeClient>({
    canvas, hub, log, store, logger: silent, stats, frames, counts: meter.counts, maxReplay: 1000, sendBufferBytes: 1000, snapshotEvery: 1000, frameRecords: 71, maxSlots: 1
  })
  /** Commit pixels to the log, as the tick does; returns the event the broker would hand back. */
  function commit (...records: Buffer[]): CommitEvent {
    const pixels = Buffer.concat(records)
    const { from, to } = log.commit('main', pixels, [{ user: 'u', count: records.length }])
    return { type: 'commit', canvas: 'main', epoch: 'E', from, to, pixels }
  }
  return { room, canvas, commit, meter, stats, frames }
}

t.test('batches applied in order: pixels and seq follow, one shared frame per beat for the clients in step', async (t) => {
  const { room, canvas, commit, meter, frames } = setup(t)
  const a = new FakeClient(1)
  const b = new FakeClient(2)
  t.equal(room.attach(a, 0), true)
  room.attach(b, 0)
  t.equal(room.attach(a, 0), false, 'attached once')
  const first = commit(rec(1, 1, 0xff0000), rec(2, 1, 0x00ff00))
  t.same([first.from, first.to], [0, 2], 'the log numbers the batch: (0, 2]')
  t.equal(room.apply(first), true)
  t.equal(canvas.seq, 2)
  t.equal(canvas.colorAt(2, 1), 0x00ff00)
  t.same(a.sent, [], 'applying sends nothing: the beat does')
  room.deliver(0, 1, 0)
  t.equal(a.shared[0], b.shared[0], 'the very same frame for both')
  t.same(a.updates, [{ seq: 2, px: [[1, 1, 255, 0, 0], [2, 1, 0, 255, 0]] }])
  t.equal(frames.count, 2)
  t.same([room.seqOf(a), room.seqOf(b)], [2, 2])
  room.apply(commit(rec(3, 1, 0x0000ff)))
  room.deliver(0, 1, 1)
  t.same(b.updates.map((u) => u.seq), [2, 3])
  t.equal(meter.counts.pixelsApplied, 3)
  room.deliver(0, 1, 2)
  t.equal(a.sent.length, 2, 'a beat with nothing new sends nothing')
})

t.test('out of order: a batch after a gap is caught up from the log; the late one is then a duplicate', async (t) => {
  const { room, canvas, commit, meter } = setup(t)
  const a = new FakeClient(1)
  room.attach(a, 0)
  const b1 = commit(rec(0, 0, 1), rec(1, 0, 2))
  const b2 = commit(rec(2, 0, 3))
  t.equal(room.apply(b2), true, 'from 2 while at 0: caught up')
  t.equal(canvas.seq, 3)
  t.same([canvas.colorAt(0, 0), canvas.colorAt(1, 0), canvas.colorAt(2, 0)], [1, 2, 3], 'the missing batch came from the log')
  t.equal(room.apply(b1), false, 'the late batch changes nothing')
  t.equal(canvas.seq, 3)
  t.equal(meter.counts.pixelsApplied, 3, 'each change counted once')
  room.deliver(0, 1, 0)
  t.same(a.updates, [{ seq: 3, px: [[0, 0, 0, 0, 1], [1, 0, 0, 0, 2], [2, 0, 0, 0, 3]] }], 'every change once, in order')
})

t.test('duplicates, overlaps and other epochs', async (t) => {
  const { room, canvas, commit } = setup(t)
  const b1 = commit(rec(0, 0, 1))
  t.equal(room.apply(b1), true)
  t.equal(room.apply(b1), false, 'the same batch again: ignored')
  const b2 = commit(rec(1, 0, 2), rec(2, 0, 3))
  t.equal(room.apply({ ...b2, epoch: 'other' }), false, 'another epoch: not this canvas\'s order')
  t.equal(canvas.seq, 1)
  // a batch covering (0, 3] while at 1: only what is missing, from the log
  t.equal(room.apply({ ...b2, from: 0, pixels: Buffer.concat([rec(0, 0, 9), b2.pixels]) }), true)
  t.equal(canvas.seq, 3)
  t.same([canvas.colorAt(0, 0), canvas.colorAt(1, 0), canvas.colorAt(2, 0)], [1, 2, 3], 'nothing applied twice')
})

t.test('a gap the log cannot fill is an error, not a hole', async (t) => {
  const { room, canvas } = setup(t)
  t.throws(() => room.apply({ type: 'commit', canvas: 'main', epoch: 'E', from: 5, to: 6, pixels: rec(0, 0, 1) }), /log has no change after 0/)
  t.equal(canvas.seq, 0)
})

t.test('a client over its send buffer lags, then is caught up once drained', async (t) => {
  const { room, commit, stats } = setup(t)
  const fast = new FakeClient(1)
  const slow = new FakeClient(2)
  room.attach(fast, 0)
  room.attach(slow, 0)
  slow.bufferedBytes = 5000
  room.apply(commit(rec(0, 0, 1)))
  room.deliver(0, 1, 0)
  room.retryLagging()
  t.equal(slow.sent.length, 0)
  t.equal(stats.lagged, 1)
  room.apply(commit(rec(1, 0, 2)))
  room.deliver(0, 1, 1)
  t.same(fast.updates.map((u) => u.seq), [1, 2])
  slow.bufferedBytes = 0
  room.retryLagging()
  t.same(slow.updates, [{ seq: 2, px: [[0, 0, 0, 0, 1], [1, 0, 0, 0, 2]] }], 'one catch-up frame')
  t.equal(stats.catchUpFrames, 1)
  room.detach(slow)
  t.equal(room.seqOf(slow), undefined, 'forgotten')
})
