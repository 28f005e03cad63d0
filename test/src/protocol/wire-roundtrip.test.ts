// The two halves of the wire module held together: what a client encodes
// (wire.ts, as the browser bundle imports it) the server decodes (codec.ts,
// the server's entry), and what the server encodes a client decodes, for
// every op, at the edges of every field, and never accepting a malformed or
// short frame. Byte layouts are pinned by hand in codec.test.ts.
import { deflateSync, inflateSync } from 'node:zlib'
import t from 'tap'
import * as client from '../../../src/protocol/wire.js'
import * as server from '../../../src/protocol/codec.js'

const MAX = 0xffff
const small: server.Bounds = { width: 100, height: 50, maxStrokePixels: 4, maxRectPixels: 200 }
const big: server.Bounds = { width: MAX + 1, height: MAX + 1, maxStrokePixels: MAX, maxRectPixels: (MAX + 1) ** 2 }

function ok<T> (res: server.Decoded<T>): T {
  if (!res.ok) throw new Error(`expected ok, got ${res.error.code}: ${res.error.message}`)
  return res.value
}

function refused<T> (res: server.Decoded<T>): string {
  return res.ok ? 'ok' : res.error.code
}

/** x, y, colour of each packed record. */
function records (recs: Uint8Array): Array<[number, number, number]> {
  const out: Array<[number, number, number]> = []
  for (let o = 0; o < recs.length; o += client.PIXEL_RECORD_BYTES) {
    const r = client.readPixelRecord(recs, o)
    out.push([r.x, r.y, r.color])
  }
  return out
}

function packed (pts: Array<[number, number, number]>): Uint8Array {
  const recs = new Uint8Array(pts.length * client.PIXEL_RECORD_BYTES)
  pts.forEach(([x, y, c], i) => client.writePixelRecord(recs, i * client.PIXEL_RECORD_BYTES, x, y, c))
  return recs
}

/** Every strict prefix of a frame, and the frame with one byte more. */
function misfits (frame: Uint8Array): Uint8Array[] {
  const out: Uint8Array[] = []
  for (let n = 0; n < frame.length; n++) out.push(frame.subarray(0, n))
  const longer = new Uint8Array(frame.length + 1)
  longer.set(frame)
  out.push(longer)
  return out
}

t.test('PIXEL: client → server at the corners, colours 0 and 0xffffff', async (t) => {
  for (const [x, y, c] of [[0, 0, 0], [MAX, MAX, 0xffffff], [1, 2, 0x010203]]) {
    const op = ok(server.decodeClientBinary(client.encodePixel(x, y, c), big))
    t.equal(op.kind, 'pixels')
    if (op.kind === 'pixels') t.same(records(op.records), [[x, y, c]])
    t.equal(server.pixelCount(op), 1)
  }
  t.equal(refused(server.decodeClientBinary(client.encodePixel(100, 0, 0), small)), 'OUT_OF_BOUNDS')
  t.equal(refused(server.decodeClientBinary(client.encodePixel(99, 49, 0), small)), 'ok', 'the last pixel inside')
})

t.test('PIXELS: counts 1, the server maximum, 65535; over the maximum is TOO_LARGE', async (t) => {
  const line = (n: number) => Array.from({ length: n }, (_v, i): [number, number, number] => [i % (MAX + 1), MAX - (i % 7), (i * 2654435761) & 0xffffff])
  for (const [n, bounds] of [[1, small], [small.maxStrokePixels, small], [MAX, big]] as const) {
    const pts = line(n).map(([x, y, c]): [number, number, number] => [x % bounds.width, y % bounds.height, c])
    const msg = client.encodePixels(packed(pts))
    t.equal(msg.length, client.PIXELS_HEADER_BYTES + n * client.PIXEL_RECORD_BYTES)
    const op = ok(server.decodeClientBinary(msg, bounds))
    if (op.kind !== 'pixels') throw new Error(op.kind)
    t.same(records(op.records), pts, `${n} records, in order`)
    t.equal(server.pixelCount(op), n)
    t.equal(server.claimedPixels(msg), n, 'the header says as many')
  }
  t.equal(refused(server.decodeClientBinary(client.encodePixels(packed(line(5).map(([x, y, c]) => [x, y % 50, c]))), small)), 'TOO_LARGE')
  t.throws(() => client.encodePixels(new Uint8Array(0)), RangeError, 'no empty stroke')
  t.throws(() => client.encodePixels(new Uint8Array(8)), RangeError, 'whole records only')
  t.throws(() => client.encodePixels(new Uint8Array((MAX + 1) * client.PIXEL_RECORD_BYTES)), RangeError, 'count is a u16')
})

t.test('RECT: client → server → records → UPDATES → client', async (t) => {
  for (const [x, y, w, h, c] of [[0, 0, 1, 1, 0], [3, 4, 5, 6, 0xabcdef], [0, 0, 10, 20, 0xffffff]]) {
    const op = ok(server.decodeClientBinary(client.encodeRect(x, y, w, h, c), small))
    t.strictSame(op, { kind: 'rect', x, y, w, h, color: c })
    t.equal(server.claimedPixels(client.encodeRect(x, y, w, h, c)), w * h)
    if (op.kind !== 'rect') continue
    const frame = server.encodeUpdates(17 + w * h, server.rectRecords(op.x, op.y, op.w, op.h, op.color))
    const u = ok(client.decodeUpdates(frame))
    t.equal(u.count, w * h)
    t.equal(u.seq, 17 + w * h)
    const want: Array<[number, number, number]> = []
    for (let row = y; row < y + h; row++) for (let col = x; col < x + w; col++) want.push([col, row, c])
    t.same(records(u.records), want, 'row-major, every pixel')
  }
  // the largest rect a u16 can say, on the largest canvas
  t.strictSame(ok(server.decodeClientBinary(client.encodeRect(0, 0, MAX, MAX, 1), big)), { kind: 'rect', x: 0, y: 0, w: MAX, h: MAX, color: 1 })
  t.strictSame(ok(server.decodeClientBinary(client.encodeRect(MAX, MAX, 1, 1, 1), big)), { kind: 'rect', x: MAX, y: MAX, w: 1, h: 1, color: 1 })
  t.equal(refused(server.decodeClientBinary(client.encodeRect(0, 0, 0, 1, 1), small)), 'BAD_MESSAGE', 'zero width')
  t.equal(refused(server.decodeClientBinary(client.encodeRect(95, 0, 6, 1, 1), small)), 'OUT_OF_BOUNDS')
  t.equal(refused(server.decodeClientBinary(client.encodeRect(0, 0, 15, 15, 1), small)), 'TOO_LARGE')
})

t.test('CURSOR: client → server at the corners', async (t) => {
  t.strictSame(ok(server.decodeClientBinary(client.encodeCursor(0, 0), small)), { kind: 'cursor', x: 0, y: 0 })
  t.strictSame(ok(server.decodeClientBinary(client.encodeCursor(MAX, MAX), big)), { kind: 'cursor', x: MAX, y: MAX })
  t.equal(refused(server.decodeClientBinary(client.encodeCursor(0, 50), small)), 'OUT_OF_BOUNDS')
  t.equal(server.claimedPixels(client.encodeCursor(1, 1)), 0)
})

t.test('client encoders refuse what the wire cannot say', async (t) => {
  for (const bad of [-1, MAX + 1, 1.5, NaN]) {
    t.throws(() => client.encodePixel(bad, 0, 0), RangeError, `x ${bad}`)
    t.throws(() => client.encodeCursor(0, bad), RangeError, `y ${bad}`)
    t.throws(() => client.encodeRect(0, 0, bad, 1, 0), RangeError, `w ${bad}`)
  }
  for (const bad of [-1, 0x1000000, 0.5]) {
    t.throws(() => client.encodePixel(0, 0, bad), RangeError, `colour ${bad}`)
    t.throws(() => client.encodeRect(0, 0, 1, 1, bad), RangeError, `colour ${bad}`)
  }
})

t.test('a decoded stroke goes out as UPDATES and a client reads the same pixels', async (t) => {
  const pts: Array<[number, number, number]> = [[0, 0, 0], [99, 49, 0xffffff], [5, 5, 0x123456]]
  const op = ok(server.decodeClientBinary(client.encodePixels(packed(pts)), { ...small, maxStrokePixels: 3 }))
  if (op.kind !== 'pixels') throw new Error(op.kind)
  const u = ok(client.decodeUpdates(server.encodeUpdates(2 ** 32 + 3, op.records)))
  t.equal(u.seq, 2 ** 32 + 3)
  t.same(records(u.records), pts)
})

t.test('SNAPSHOT: server → client, raw and deflated, seq 0 to 2^53 - 1', async (t) => {
  const rgb = Uint8Array.from({ length: 4 * 3 * 3 }, (_v, i) => (i * 37) & 0xff)
  for (const seq of [0, 1, 2 ** 32, Number.MAX_SAFE_INTEGER]) {
    const raw = ok(client.decodeSnapshot(server.encodeSnapshot(seq, 4, 3, client.SnapshotEncoding.RAW, rgb)))
    t.strictSame({ ...raw, payload: [...raw.payload] }, { seq, width: 4, height: 3, encoding: 0, payload: [...rgb] })
  }
  const deflated = server.encodeSnapshot(7, 4, 3, client.SnapshotEncoding.DEFLATE, deflateSync(rgb))
  const snap = ok(client.decodeServerBinary(deflated))
  if (snap.kind !== 'snapshot') throw new Error(snap.kind)
  t.same([snap.seq, snap.width, snap.height, snap.encoding], [7, 4, 3, 1])
  t.same([...inflateSync(snap.payload)], [...rgb], 'the rows inflate back')
  const empty = ok(client.decodeSnapshot(server.encodeSnapshot(0, 0, MAX, 0, new Uint8Array(0))))
  t.same([empty.width, empty.height, empty.payload.length], [0, MAX, 0], 'a 0-wide canvas, 65535 high')
  t.throws(() => server.encodeSnapshot(0, MAX + 1, 1, 0, new Uint8Array(0)), RangeError)
  t.throws(() => server.encodeSnapshot(0, 1, 1, 2 as 0, new Uint8Array(0)), RangeError, 'encoding 0 or 1')
})

t.test('UPDATES: server → client, 0, 1 and 65,536 records', async (t) => {
  const zero = ok(client.decodeUpdates(server.encodeUpdates(0, new Uint8Array(0))))
  t.same([zero.seq, zero.count, zero.records.length], [0, 0, 0])
  const many = Array.from({ length: 65536 }, (_v, i): [number, number, number] => [i & MAX, MAX - (i & MAX), i * 255])
  const u = ok(client.decodeUpdates(server.encodeUpdates(Number.MAX_SAFE_INTEGER, packed(many))))
  t.equal(u.count, 65536)
  t.equal(u.seq, Number.MAX_SAFE_INTEGER)
  t.same(records(u.records), many)
})

t.test('UPDATES header read in place (updatesCount, updatesSeq): what decodeUpdates reads, and refused where it refuses', async (t) => {
  const many = Array.from({ length: 65536 }, (_v, i): [number, number, number] => [i & MAX, i >> 16, i])
  for (const [seq, recs] of [[0, []], [7, [[1, 2, 3]]], [Number.MAX_SAFE_INTEGER, many]] as Array<[number, Array<[number, number, number]>]>) {
    const f = server.encodeUpdates(seq, packed(recs))
    const u = ok(client.decodeUpdates(f))
    t.same([client.updatesCount(f), client.updatesSeq(f)], [u.count, u.seq], `${recs.length} records at seq ${seq}`)
  }
  const one = server.encodeUpdates(3, packed([[1, 1, 1]]))
  const bad: Array<[string, Uint8Array]> = misfits(one).map((m) => [`${m.length} of ${one.length} bytes`, m])
  const farSeq = Uint8Array.from(one)
  farSeq[2] = 0x20 // seq 2^53
  const lying = Uint8Array.from(one)
  lying[12] = 2 // count 2, one record
  bad.push(['seq 2^53', farSeq], ['count beyond the records', lying], ['a CURSORS', server.encodeCursors([{ connectionId: 1, x: 2, y: 3 }])], ['a SNAPSHOT', server.encodeSnapshot(3, 1, 1, 0, new Uint8Array(3))])
  for (const [what, m] of bad) {
    t.equal(refused(client.decodeUpdates(m)), 'BAD_MESSAGE', `decodeUpdates refuses ${what}`)
    t.equal(client.updatesCount(m), -1, 'and so does updatesCount')
  }
})

t.test('CURSORS: server → client, 0 and 65535 entries, u32 ids', async (t) => {
  t.strictSame(ok(client.decodeCursors(server.encodeCursors([]))), [])
  const entries = Array.from({ length: MAX }, (_v, i) => ({ connectionId: i === 0 ? 0xffffffff : i, x: i, y: MAX - i }))
  const got = ok(client.decodeServerBinary(server.encodeCursors(entries)))
  if (got.kind !== 'cursors') throw new Error(got.kind)
  t.strictSame(got.cursors, entries)
  t.throws(() => server.encodeCursors([...entries, { connectionId: 1, x: 0, y: 0 }]), RangeError, 'count is a u16')
  t.throws(() => server.encodeCursors([{ connectionId: 2 ** 32, x: 0, y: 0 }]), RangeError)
})

t.test('malformed and short frames are refused by both halves, never thrown', async (t) => {
  const clientOps = [client.encodePixel(1, 1, 1), client.encodePixels(packed([[1, 1, 1], [2, 2, 2]])), client.encodeRect(1, 1, 2, 2, 1), client.encodeCursor(1, 1)]
  for (const op of clientOps) {
    for (const m of misfits(op)) t.equal(refused(server.decodeClientBinary(m, small)), 'BAD_MESSAGE', `op ${op[0]}, ${m.length} of ${op.length} bytes`)
  }
  const frames = [
    server.encodeSnapshot(3, 2, 2, 0, new Uint8Array(12)),
    server.encodeUpdates(3, packed([[1, 1, 1]])),
    server.encodeCursors([{ connectionId: 1, x: 2, y: 3 }])
  ]
  for (const f of frames) {
    for (const m of misfits(f)) t.equal(refused(client.decodeServerBinary(m)), 'BAD_MESSAGE', `op ${f[0]}, ${m.length} of ${f.length} bytes`)
  }
  t.equal(refused(client.decodeSnapshot(frames[1])), 'BAD_MESSAGE', 'an UPDATES is not a SNAPSHOT')
  t.equal(refused(client.decodeUpdates(frames[2])), 'BAD_MESSAGE', 'a CURSORS is not an UPDATES')
  t.equal(refused(client.decodeCursors(frames[0])), 'BAD_MESSAGE', 'a SNAPSHOT is not a CURSORS')
  t.equal(refused(client.decodeServerBinary(client.encodePixel(1, 1, 1))), 'BAD_MESSAGE', 'a client op is not a server frame')
  t.equal(refused(server.decodeClientBinary(frames[1], small)), 'BAD_MESSAGE', 'a server frame is not a client op')
  const unknownEncoding = Uint8Array.from(frames[0])
  unknownEncoding[13] = 2
  t.equal(refused(client.decodeSnapshot(unknownEncoding)), 'BAD_MESSAGE', 'unknown snapshot encoding')
  for (const f of frames.slice(0, 2)) {
    const farSeq = Uint8Array.from(f)
    farSeq[2] = 0x20 // seq 2^53
    t.equal(refused(client.decodeServerBinary(farSeq)), 'BAD_MESSAGE', `op ${f[0]}: a seq a number cannot hold`)
  }
  const lying = Uint8Array.from(frames[1])
  lying[12] = 2 // count 2, one record
  t.equal(refused(client.decodeUpdates(lying)), 'BAD_MESSAGE', 'count beyond the records')
})

t.test('fuzz: random pixels survive client → server → UPDATES → client', async (t) => {
  let seed = 0x9e3779b9
  const rand = (n: number) => {
    seed = (Math.imul(seed ^ (seed >>> 15), 0x2c1b3c6d) + 0x6d2b79f5) >>> 0
    return seed % n
  }
  let seq = 0
  for (let i = 0; i < 500; i++) {
    const pts = Array.from({ length: 1 + rand(16) }, (): [number, number, number] => [rand(MAX + 1), rand(MAX + 1), rand(0x1000000)])
    const msg = pts.length === 1 ? client.encodePixel(...pts[0]) : client.encodePixels(packed(pts))
    const op = ok(server.decodeClientBinary(Buffer.from(msg), big))
    if (op.kind !== 'pixels') throw new Error(op.kind)
    seq += pts.length
    const u = ok(client.decodeServerBinary(server.encodeUpdates(seq, op.records)))
    if (u.kind !== 'updates' || u.seq !== seq || JSON.stringify(records(u.records)) !== JSON.stringify(pts)) {
      t.fail(`pixels changed on the way: ${JSON.stringify(pts)}`)
      return
    }
  }
  t.pass('500 ops, every pixel unchanged')
})
