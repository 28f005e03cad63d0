// The client library's local canvas and event emitter, alone: a SNAPSHOT
// replaces the picture (copied), UPDATES paint in order and skip what lies
// outside, a raw and a deflated SNAPSHOT read the same; listeners come and
// go.
import { deflateSync } from 'node:zlib'
import t from 'tap'
import { LocalCanvas, snapshotRows } from '../../../src/client-lib/local-canvas.js'
import { Emitter } from '../../../src/client-lib/emitter.js'
import { SnapshotEncoding, writePixelRecord } from '../../../src/protocol/wire.js'

t.test('snapshot, then updates in order; out of range refused or skipped', async (t) => {
  const c = new LocalCanvas()
  const rows = new Uint8Array(2 * 2 * 3).fill(255)
  c.applySnapshot(10, 2, 2, rows)
  rows[0] = 0
  t.equal(c.pixel(0, 0), 0xffffff, 'the snapshot was copied')
  t.throws(() => c.applySnapshot(11, 2, 2, new Uint8Array(5)), /must hold 12 bytes/)
  const records = new Uint8Array(3 * 7)
  writePixelRecord(records, 0, 1, 1, 0x010203)
  writePixelRecord(records, 7, 5, 0, 0x999999) // outside: skipped
  writePixelRecord(records, 14, 1, 1, 0x040506) // the same pixel again: the last wins
  c.applyUpdates(13, records)
  t.equal(c.seq, 13)
  t.equal(c.pixel(1, 1), 0x040506)
  t.throws(() => c.pixel(2, 0), RangeError)
  t.throws(() => c.pixel(-1, 0), RangeError)
  t.throws(() => c.pixel(0.5, 0), RangeError)
})

t.test('raw and deflated SNAPSHOT payloads give the same rows', async (t) => {
  const rows = Uint8Array.from({ length: 4 * 3 * 3 }, (_, i) => i)
  const raw = await snapshotRows({ seq: 0, width: 4, height: 3, encoding: SnapshotEncoding.RAW, payload: rows })
  const inflated = await snapshotRows({ seq: 0, width: 4, height: 3, encoding: SnapshotEncoding.DEFLATE, payload: deflateSync(rows) })
  t.same([...raw], [...rows])
  t.same([...inflated], [...rows])
  await t.rejects(snapshotRows({ seq: 0, width: 4, height: 3, encoding: SnapshotEncoding.DEFLATE, payload: new Uint8Array([1, 2, 3]) }))
})

t.test('the emitter: on, once, off', async (t) => {
  class E extends Emitter<{ ping: (n: number) => void }> {
    fire (n: number) { this.emit('ping', n) }
  }
  const e = new E()
  const got: string[] = []
  const off = e.on('ping', (n) => got.push(`a${n}`))
  e.once('ping', (n) => got.push(`once${n}`))
  e.fire(1)
  off()
  e.fire(2)
  e.off('ping', () => {}) // not a listener: nothing happens
  t.same(got, ['a1', 'once1'])
})
