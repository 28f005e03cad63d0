import t, { type Test } from 'tap'
import {
  Op,
  PIXEL_RECORD_BYTES,
  decodeClientBinary,
  encodeCursors,
  encodeSnapshot,
  encodeUpdates,
  pixelCount,
  readPixelRecord,
  rectRecords,
  writePixelRecord,
  type Bounds,
  type Decoded,
  type DrawOp
} from '../../../src/protocol/codec.js'
import type { ErrorCode } from '../../../src/protocol/errors.js'

// 100 wide, 50 high: coordinates 0..99, 0..49
const bounds: Bounds = { width: 100, height: 50, maxStrokePixels: 4, maxRectPixels: 200 }
const big: Bounds = { width: 65536, height: 65536, maxStrokePixels: 65535, maxRectPixels: 65536 * 65536 }

const hi = (n: number) => (n >> 8) & 0xff
const lo = (n: number) => n & 0xff
const pixel = (x: number, y: number, r = 1, g = 2, b = 3) => Buffer.from([0x00, hi(x), lo(x), hi(y), lo(y), r, g, b])
const record = (x: number, y: number, r = 1, g = 2, b = 3) => [hi(x), lo(x), hi(y), lo(y), r, g, b]
const pixels = (count: number, recs: number[][]) => Buffer.from([0x01, hi(count), lo(count), ...recs.flat()])
const rect = (x: number, y: number, w: number, h: number, r = 9, g = 8, b = 7) =>
  Buffer.from([0x02, hi(x), lo(x), hi(y), lo(y), hi(w), lo(w), hi(h), lo(h), r, g, b])
const cursor = (x: number, y: number) => Buffer.from([0x03, hi(x), lo(x), hi(y), lo(y)])

function ok (t: Test, res: Decoded<DrawOp>): DrawOp {
  if (!res.ok) {
    t.fail(`expected ok, got ${res.error.code}: ${res.error.message}`)
    throw new Error('not ok')
  }
  return res.value
}

function err (t: Test, res: Decoded<DrawOp>, code: ErrorCode, message?: string | RegExp): void {
  if (res.ok) {
    t.fail(`expected ${code}, got ok ${JSON.stringify(res.value)}`)
    return
  }
  t.equal(res.error.code, code, `code ${code}`)
  t.equal(res.error.retryAfterMs, undefined, 'no retryAfterMs')
  if (typeof message === 'string') t.equal(res.error.message, message)
  else if (message !== undefined) t.match(res.error.message, message)
}

t.test('constants', async t => {
  t.strictSame({ ...Op }, { PIXEL: 0x00, PIXELS: 0x01, RECT: 0x02, CURSOR: 0x03, SNAPSHOT: 0x10, UPDATES: 0x11, CURSORS: 0x12 })
  t.equal(PIXEL_RECORD_BYTES, 7)
})

t.test('empty buffer and unknown ops', async t => {
  err(t, decodeClientBinary(Buffer.alloc(0), bounds), 'BAD_MESSAGE', 'empty binary message')
  err(t, decodeClientBinary(Buffer.from([0x04, 0, 0, 0, 0]), bounds), 'BAD_MESSAGE', 'unknown binary op 0x04')
  // server → client ops are not accepted from a client
  err(t, decodeClientBinary(Buffer.from([0x10]), bounds), 'BAD_MESSAGE', 'unknown binary op 0x10')
  err(t, decodeClientBinary(Buffer.from([0x11, 0, 0, 0, 0, 0, 0, 0, 5, 0, 0, 0, 0]), bounds), 'BAD_MESSAGE', 'unknown binary op 0x11')
  err(t, decodeClientBinary(Buffer.from([0x12, 0, 0]), bounds), 'BAD_MESSAGE', 'unknown binary op 0x12')
  err(t, decodeClientBinary(Buffer.from([0xff, 1, 2, 3, 4, 5, 6, 7]), bounds), 'BAD_MESSAGE', 'unknown binary op 0xff')
})

t.test('PIXEL', async t => {
  const buf = pixel(5, 7, 255, 128, 1)
  const op = ok(t, decodeClientBinary(buf, bounds))
  t.equal(op.kind, 'pixels')
  if (op.kind !== 'pixels') return
  t.same(op.records, Buffer.from([0, 5, 0, 7, 255, 128, 1]))
  t.equal(op.records.length, 7)
  t.equal(pixelCount(op), 1)
  t.strictSame(readPixelRecord(op.records, 0), { x: 5, y: 7, color: 0xff8001 })

  t.test('wrong sizes', async t => {
    err(t, decodeClientBinary(Buffer.from([0x00]), bounds), 'BAD_MESSAGE', 'PIXEL must be 8 bytes, got 1')
    err(t, decodeClientBinary(buf.subarray(0, 7), bounds), 'BAD_MESSAGE', 'PIXEL must be 8 bytes, got 7')
    err(t, decodeClientBinary(Buffer.concat([buf, Buffer.from([0])]), bounds), 'BAD_MESSAGE', 'PIXEL must be 8 bytes, got 9')
    err(t, decodeClientBinary(Buffer.concat([buf, buf]), bounds), 'BAD_MESSAGE', 'PIXEL must be 8 bytes, got 16')
  })

  t.test('bounds edges', async t => {
    ok(t, decodeClientBinary(pixel(0, 0), bounds))
    ok(t, decodeClientBinary(pixel(99, 0), bounds))
    ok(t, decodeClientBinary(pixel(0, 49), bounds))
    ok(t, decodeClientBinary(pixel(99, 49), bounds))
    err(t, decodeClientBinary(pixel(100, 0), bounds), 'OUT_OF_BOUNDS', 'PIXEL (100,0) is outside the 100x50 canvas')
    err(t, decodeClientBinary(pixel(0, 50), bounds), 'OUT_OF_BOUNDS', 'PIXEL (0,50) is outside the 100x50 canvas')
    err(t, decodeClientBinary(pixel(100, 50), bounds), 'OUT_OF_BOUNDS')
    err(t, decodeClientBinary(pixel(65535, 65535), bounds), 'OUT_OF_BOUNDS')
    // a 256-wide canvas: the high byte of x matters
    err(t, decodeClientBinary(pixel(256, 0), { ...bounds, width: 256 }), 'OUT_OF_BOUNDS')
    ok(t, decodeClientBinary(pixel(255, 0), { ...bounds, width: 256 }))
  })

  t.test('max u16 coordinates', async t => {
    const op = ok(t, decodeClientBinary(pixel(65535, 65535, 0, 0, 0), big))
    if (op.kind !== 'pixels') return t.fail('kind')
    t.same(op.records, Buffer.from([0xff, 0xff, 0xff, 0xff, 0, 0, 0]))
    t.strictSame(readPixelRecord(op.records, 0), { x: 65535, y: 65535, color: 0 })
  })
})

t.test('PIXELS', async t => {
  t.test('valid stroke', async t => {
    const buf = pixels(2, [record(1, 2, 10, 20, 30), record(99, 49, 255, 255, 255)])
    t.equal(buf.length, 3 + 14)
    const op = ok(t, decodeClientBinary(buf, bounds))
    if (op.kind !== 'pixels') return t.fail('kind')
    t.same(op.records, Buffer.from([0, 1, 0, 2, 10, 20, 30, 0, 99, 0, 49, 255, 255, 255]))
    t.equal(pixelCount(op), 2)
    t.strictSame(readPixelRecord(op.records, 0), { x: 1, y: 2, color: 0x0a141e })
    t.strictSame(readPixelRecord(op.records, 7), { x: 99, y: 49, color: 0xffffff })
    // a view into the message, in arrival order
    t.equal(op.records.buffer, buf.buffer)
    t.equal(op.records.byteOffset, buf.byteOffset + 3)
  })

  t.test('count at the maximum is accepted', async t => {
    const recs = [record(0, 0), record(1, 1), record(2, 2), record(3, 3)]
    const op = ok(t, decodeClientBinary(pixels(4, recs), bounds))
    t.equal(pixelCount(op), 4)
  })

  t.test('too short for the header', async t => {
    err(t, decodeClientBinary(Buffer.from([0x01]), bounds), 'BAD_MESSAGE', 'PIXELS needs at least 3 bytes (op and count), got 1')
    err(t, decodeClientBinary(Buffer.from([0x01, 0x00]), bounds), 'BAD_MESSAGE', 'PIXELS needs at least 3 bytes (op and count), got 2')
  })

  t.test('count 0', async t => {
    err(t, decodeClientBinary(pixels(0, []), bounds), 'BAD_MESSAGE', 'PIXELS count must be at least 1, got 0')
    err(t, decodeClientBinary(pixels(0, [record(1, 1)]), bounds), 'BAD_MESSAGE', 'PIXELS count must be at least 1, got 0')
  })

  t.test('count that lies', async t => {
    // says 2, carries 1
    err(t, decodeClientBinary(pixels(2, [record(1, 1)]), bounds), 'BAD_MESSAGE', 'PIXELS with count 2 must be 17 bytes, got 10')
    // says 1, carries 2
    err(t, decodeClientBinary(pixels(1, [record(1, 1), record(2, 2)]), bounds), 'BAD_MESSAGE', 'PIXELS with count 1 must be 10 bytes, got 17')
    // says 1, carries none
    err(t, decodeClientBinary(pixels(1, []), bounds), 'BAD_MESSAGE', 'PIXELS with count 1 must be 10 bytes, got 3')
    // one stray byte either way
    err(t, decodeClientBinary(Buffer.concat([pixels(1, [record(1, 1)]), Buffer.from([0])]), bounds), 'BAD_MESSAGE', 'PIXELS with count 1 must be 10 bytes, got 11')
    err(t, decodeClientBinary(pixels(1, [record(1, 1)]).subarray(0, 9), bounds), 'BAD_MESSAGE', 'PIXELS with count 1 must be 10 bytes, got 9')
  })

  t.test('count over the maximum is TOO_LARGE', async t => {
    const five = [record(0, 0), record(1, 1), record(2, 2), record(3, 3), record(4, 4)]
    err(t, decodeClientBinary(pixels(5, five), bounds), 'TOO_LARGE', 'PIXELS count 5 exceeds the maximum stroke of 4 pixels')
    // even when the length lies too
    err(t, decodeClientBinary(pixels(5, []), bounds), 'TOO_LARGE')
    err(t, decodeClientBinary(pixels(65535, [record(0, 0)]), bounds), 'TOO_LARGE', 'PIXELS count 65535 exceeds the maximum stroke of 4 pixels')
  })

  t.test('one record out of bounds rejects the whole stroke', async t => {
    err(t, decodeClientBinary(pixels(3, [record(0, 0), record(100, 0), record(1, 1)]), bounds), 'OUT_OF_BOUNDS',
      'PIXELS record 1 (100,0) is outside the 100x50 canvas')
    err(t, decodeClientBinary(pixels(2, [record(0, 0), record(0, 50)]), bounds), 'OUT_OF_BOUNDS',
      'PIXELS record 1 (0,50) is outside the 100x50 canvas')
    err(t, decodeClientBinary(pixels(1, [record(65535, 65535)]), bounds), 'OUT_OF_BOUNDS')
    ok(t, decodeClientBinary(pixels(2, [record(99, 0), record(0, 49)]), bounds))
  })

  t.test('max u16 coordinates', async t => {
    const op = ok(t, decodeClientBinary(pixels(1, [record(65535, 65534, 1, 2, 3)]), big))
    if (op.kind !== 'pixels') return t.fail('kind')
    t.strictSame(readPixelRecord(op.records, 0), { x: 65535, y: 65534, color: 0x010203 })
  })
})

t.test('RECT', async t => {
  t.test('valid', async t => {
    const op = ok(t, decodeClientBinary(rect(3, 4, 10, 5, 0xab, 0xcd, 0xef), bounds))
    t.strictSame(op, { kind: 'rect', x: 3, y: 4, w: 10, h: 5, color: 0xabcdef })
    t.equal(pixelCount(op), 50)
  })

  t.test('wrong sizes', async t => {
    err(t, decodeClientBinary(rect(0, 0, 1, 1).subarray(0, 11), bounds), 'BAD_MESSAGE', 'RECT must be 12 bytes, got 11')
    err(t, decodeClientBinary(Buffer.concat([rect(0, 0, 1, 1), Buffer.from([0])]), bounds), 'BAD_MESSAGE', 'RECT must be 12 bytes, got 13')
    err(t, decodeClientBinary(Buffer.from([0x02]), bounds), 'BAD_MESSAGE', 'RECT must be 12 bytes, got 1')
  })

  t.test('zero size', async t => {
    err(t, decodeClientBinary(rect(0, 0, 0, 5), bounds), 'BAD_MESSAGE', 'RECT must have a non-zero size, got 0x5')
    err(t, decodeClientBinary(rect(0, 0, 5, 0), bounds), 'BAD_MESSAGE', 'RECT must have a non-zero size, got 5x0')
    err(t, decodeClientBinary(rect(0, 0, 0, 0), bounds), 'BAD_MESSAGE')
  })

  t.test('edges', async t => {
    // ends exactly at the right / bottom edge
    ok(t, decodeClientBinary(rect(90, 0, 10, 1), bounds))
    ok(t, decodeClientBinary(rect(0, 45, 1, 5), bounds))
    ok(t, decodeClientBinary(rect(99, 49, 1, 1), bounds))
    // one past
    err(t, decodeClientBinary(rect(90, 0, 11, 1), bounds), 'OUT_OF_BOUNDS', 'RECT 11x1 at (90,0) extends past the 100x50 canvas')
    err(t, decodeClientBinary(rect(0, 45, 1, 6), bounds), 'OUT_OF_BOUNDS', 'RECT 1x6 at (0,45) extends past the 100x50 canvas')
    // origin outside
    err(t, decodeClientBinary(rect(100, 0, 1, 1), bounds), 'OUT_OF_BOUNDS')
    err(t, decodeClientBinary(rect(0, 50, 1, 1), bounds), 'OUT_OF_BOUNDS')
    err(t, decodeClientBinary(rect(65535, 65535, 65535, 65535), bounds), 'OUT_OF_BOUNDS')
  })

  t.test('area over the maximum is TOO_LARGE', async t => {
    ok(t, decodeClientBinary(rect(0, 0, 100, 2), bounds)) // 200 = max
    ok(t, decodeClientBinary(rect(0, 0, 20, 10), bounds)) // 200 = max
    err(t, decodeClientBinary(rect(0, 0, 67, 3), bounds), 'TOO_LARGE', 'RECT of 201 pixels exceeds the maximum of 200')
    err(t, decodeClientBinary(rect(0, 0, 100, 50), bounds), 'TOO_LARGE')
  })

  t.test('max u16 coordinates', async t => {
    const op = ok(t, decodeClientBinary(rect(65535, 65535, 1, 1, 0, 0, 0), big))
    t.strictSame(op, { kind: 'rect', x: 65535, y: 65535, w: 1, h: 1, color: 0 })
    const whole = ok(t, decodeClientBinary(rect(0, 0, 65535, 65535), big))
    t.equal(pixelCount(whole), 65535 * 65535)
  })
})

t.test('CURSOR', async t => {
  const op = ok(t, decodeClientBinary(cursor(12, 34), bounds))
  t.strictSame(op, { kind: 'cursor', x: 12, y: 34 })
  t.equal(pixelCount(op), 0)
  ok(t, decodeClientBinary(cursor(99, 49), bounds))
  ok(t, decodeClientBinary(cursor(0, 0), bounds))
  err(t, decodeClientBinary(cursor(100, 0), bounds), 'OUT_OF_BOUNDS', 'CURSOR (100,0) is outside the 100x50 canvas')
  err(t, decodeClientBinary(cursor(0, 50), bounds), 'OUT_OF_BOUNDS', 'CURSOR (0,50) is outside the 100x50 canvas')
  err(t, decodeClientBinary(cursor(1, 1).subarray(0, 4), bounds), 'BAD_MESSAGE', 'CURSOR must be 5 bytes, got 4')
  err(t, decodeClientBinary(Buffer.concat([cursor(1, 1), Buffer.from([0])]), bounds), 'BAD_MESSAGE', 'CURSOR must be 5 bytes, got 6')
  t.strictSame(ok(t, decodeClientBinary(cursor(65535, 65535), big)), { kind: 'cursor', x: 65535, y: 65535 })
})

t.test('writePixelRecord / readPixelRecord', async t => {
  const buf = Buffer.alloc(16, 0xee)
  writePixelRecord(buf, 2, 0x0102, 0x0304, 0x0a0b0c)
  t.same(buf, Buffer.from([0xee, 0xee, 1, 2, 3, 4, 0x0a, 0x0b, 0x0c, 0xee, 0xee, 0xee, 0xee, 0xee, 0xee, 0xee]))
  t.strictSame(readPixelRecord(buf, 2), { x: 0x0102, y: 0x0304, color: 0x0a0b0c })

  writePixelRecord(buf, 9, 65535, 65535, 0xffffff)
  t.same(buf.subarray(9), Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]))
  t.strictSame(readPixelRecord(buf, 9), { x: 65535, y: 65535, color: 0xffffff })

  t.throws(() => writePixelRecord(buf, 0, 65536, 0, 0), RangeError)
  t.throws(() => writePixelRecord(buf, 0, 0, -1, 0), RangeError)
  t.throws(() => writePixelRecord(buf, 0, 0, 0, 0x1000000), RangeError)
  t.throws(() => writePixelRecord(buf, 0, 0, 0, -1), RangeError)
  t.throws(() => writePixelRecord(buf, 0, 0, 0, 1.5), RangeError)
  t.throws(() => readPixelRecord(buf, 10), RangeError)
  t.throws(() => readPixelRecord(buf, -1), RangeError)
})

t.test('encodeSnapshot', async t => {
  t.same(encodeSnapshot(5, 3, 2, 0, new Uint8Array([1, 2, 3])),
    Buffer.from([0x10, 0, 0, 0, 0, 0, 0, 0, 5, 0, 3, 0, 2, 0, 1, 2, 3]))
  t.same(encodeSnapshot(0, 0x0102, 0xfffe, 1, Buffer.alloc(0)),
    Buffer.from([0x10, 0, 0, 0, 0, 0, 0, 0, 0, 0x01, 0x02, 0xff, 0xfe, 1]))
  // seq above 2^32
  t.same(encodeSnapshot(2 ** 32 + 1, 1, 1, 1, Buffer.from([9])),
    Buffer.from([0x10, 0, 0, 0, 1, 0, 0, 0, 1, 0, 1, 0, 1, 1, 9]))
  t.same(encodeSnapshot(Number.MAX_SAFE_INTEGER, 65535, 65535, 0, Buffer.alloc(0)),
    Buffer.from([0x10, 0x00, 0x1f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0]))
  t.equal(encodeSnapshot(7, 1, 1, 0, Buffer.alloc(100)).length, 114)
  t.throws(() => encodeSnapshot(-1, 1, 1, 0, Buffer.alloc(0)), RangeError)
  t.throws(() => encodeSnapshot(1.5, 1, 1, 0, Buffer.alloc(0)), RangeError)
  t.throws(() => encodeSnapshot(2 ** 53, 1, 1, 0, Buffer.alloc(0)), RangeError)
  t.throws(() => encodeSnapshot(1, 65536, 1, 0, Buffer.alloc(0)), RangeError)
})

t.test('encodeUpdates', async t => {
  t.same(encodeUpdates(5, Buffer.from([0, 1, 0, 2, 255, 0, 0])),
    Buffer.from([0x11, 0, 0, 0, 0, 0, 0, 0, 5, 0, 0, 0, 1, 0, 1, 0, 2, 255, 0, 0]))
  t.same(encodeUpdates(0, Buffer.alloc(0)), Buffer.from([0x11, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]))
  // seq above 2^32, two records, from a Uint8Array
  t.same(encodeUpdates(0x1_0000_0005, new Uint8Array([0, 1, 0, 2, 3, 4, 5, 0xff, 0xff, 0xff, 0xff, 6, 7, 8])),
    Buffer.from([0x11, 0, 0, 0, 1, 0, 0, 0, 5, 0, 0, 0, 2, 0, 1, 0, 2, 3, 4, 5, 0xff, 0xff, 0xff, 0xff, 6, 7, 8]))
  t.same(encodeUpdates(Number.MAX_SAFE_INTEGER, Buffer.alloc(0)),
    Buffer.from([0x11, 0x00, 0x1f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0]))
  // count uses all four bytes
  const many = encodeUpdates(1, Buffer.alloc(7 * 0x10203))
  t.same(many.subarray(9, 13), Buffer.from([0, 1, 2, 3]))
  t.throws(() => encodeUpdates(1, Buffer.alloc(6)), RangeError)
  t.throws(() => encodeUpdates(1, Buffer.alloc(8)), RangeError)
  t.throws(() => encodeUpdates(-1, Buffer.alloc(0)), RangeError)
})

t.test('rectRecords', async t => {
  t.same(rectRecords(1, 2, 2, 2, 0x0a0b0c), Buffer.from([
    0, 1, 0, 2, 10, 11, 12,
    0, 2, 0, 2, 10, 11, 12,
    0, 1, 0, 3, 10, 11, 12,
    0, 2, 0, 3, 10, 11, 12
  ]))
  t.same(rectRecords(65534, 65535, 2, 1, 0xffffff), Buffer.from([
    0xff, 0xfe, 0xff, 0xff, 255, 255, 255,
    0xff, 0xff, 0xff, 0xff, 255, 255, 255
  ]))
  t.equal(rectRecords(0, 0, 0, 5, 0).length, 0)
  t.equal(rectRecords(0, 0, 10, 20, 0).length, 10 * 20 * 7)
  t.throws(() => rectRecords(0, 0, 1, 1, 0x1000000), RangeError)
  t.throws(() => rectRecords(65535, 0, 2, 1, 0), RangeError)

  // a decoded RECT expands to as many records as pixelCount says
  const op = ok(t, decodeClientBinary(rect(3, 4, 5, 6, 1, 2, 3), bounds))
  if (op.kind !== 'rect') return t.fail('kind')
  const recs = rectRecords(op.x, op.y, op.w, op.h, op.color)
  t.equal(recs.length / PIXEL_RECORD_BYTES, pixelCount(op))
  t.strictSame(readPixelRecord(recs, recs.length - 7), { x: 7, y: 9, color: 0x010203 })
})

t.test('encodeCursors', async t => {
  t.same(encodeCursors([]), Buffer.from([0x12, 0, 0]))
  t.same(encodeCursors([
    { connectionId: 1, x: 2, y: 3 },
    { connectionId: 0xdeadbeef, x: 65535, y: 0x0102 }
  ]), Buffer.from([
    0x12, 0, 2,
    0, 0, 0, 1, 0, 2, 0, 3,
    0xde, 0xad, 0xbe, 0xef, 0xff, 0xff, 0x01, 0x02
  ]))
  t.throws(() => encodeCursors([{ connectionId: 2 ** 32, x: 0, y: 0 }]), RangeError)
  t.throws(() => encodeCursors(Array.from({ length: 65536 }, () => ({ connectionId: 1, x: 0, y: 0 }))), RangeError)
})

t.test('decoded strokes re-encode as UPDATES unchanged', async t => {
  const op = ok(t, decodeClientBinary(pixels(2, [record(1, 2, 3, 4, 5), record(6, 7, 8, 9, 10)]), bounds))
  if (op.kind !== 'pixels') return t.fail('kind')
  t.same(encodeUpdates(42, op.records),
    Buffer.from([0x11, 0, 0, 0, 0, 0, 0, 0, 42, 0, 0, 0, 2, 0, 1, 0, 2, 3, 4, 5, 0, 6, 0, 7, 8, 9, 10]))
})

// mulberry32: a small seeded PRNG so failures reproduce
function prng (seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let r = Math.imul(a ^ (a >>> 15), 1 | a)
    r = (r + Math.imul(r ^ (r >>> 7), 61 | r)) ^ r
    return ((r ^ (r >>> 14)) >>> 0) / 4294967296
  }
}

/** Any length 0..64, any bytes. */
function randomBytes (rand: () => number): Buffer {
  const len = Math.floor(rand() * 65)
  const buf = Buffer.alloc(len)
  for (let j = 0; j < len; j++) buf[j] = Math.floor(rand() * 256)
  return buf
}

/** A client op (0..4) of about the right length, with small fields near the canvas edges (at most 64 bytes). */
function nearlyValid (rand: () => number): Buffer {
  const op = Math.floor(rand() * 5)
  const count = Math.floor(rand() * 9) // 0..8 records for PIXELS
  const nominal = [8, 3 + 7 * count, 12, 5, 1 + Math.floor(rand() * 12)][op]
  const delta = [-1, 0, 0, 0, 1][Math.floor(rand() * 5)]
  const len = Math.max(0, nominal + delta)
  const buf = Buffer.alloc(len)
  for (let j = 0; j < len; j++) buf[j] = Math.floor(rand() * 256)
  const field = () => rand() < 0.05 ? 0xffff : Math.floor(rand() * 12)
  const put = (off: number, v: number) => { if (off + 2 <= len) buf.writeUInt16BE(v, off) }
  if (len > 0) buf[0] = op
  if (op === 1) {
    put(1, rand() < 0.8 ? count : Math.floor(rand() * 12))
    for (let off = 3; off + 4 <= len; off += 7) { put(off, field()); put(off + 2, field()) }
  } else {
    // PIXEL / RECT / CURSOR: x, y (and w, h for RECT) are u16 fields from offset 1
    for (let off = 1; off + 2 <= Math.min(len, op === 2 ? 9 : 5); off += 2) put(off, field())
  }
  return buf
}

t.test('fuzz: never throws, only known outcomes', async t => {
  const rand = prng(0x5eed)
  const small: Bounds = { width: 8, height: 8, maxStrokePixels: 6, maxRectPixels: 20 }
  const known = new Set<string>(['BAD_MESSAGE', 'OUT_OF_BOUNDS', 'TOO_LARGE'])
  const seen = new Map<string, number>()
  const problems: string[] = []
  const N = 20000
  for (let i = 0; i < N; i++) {
    const buf = rand() < 0.5 ? randomBytes(rand) : nearlyValid(rand)
    const b = rand() < 0.5 ? small : bounds
    let res: Decoded<DrawOp>
    try {
      res = decodeClientBinary(buf, b)
    } catch (e) {
      problems.push(`threw on ${buf.toString('hex')}: ${String(e)}`)
      continue
    }
    if (res.ok) {
      const op = res.value
      seen.set(`ok:${op.kind}`, (seen.get(`ok:${op.kind}`) ?? 0) + 1)
      if (op.kind === 'pixels') {
        if (op.records.length === 0 || op.records.length % 7 !== 0) problems.push(`bad records length on ${buf.toString('hex')}`)
        for (let off = 0; off < op.records.length; off += 7) {
          const { x, y } = readPixelRecord(op.records, off)
          if (x >= b.width || y >= b.height) problems.push(`accepted out-of-bounds pixel on ${buf.toString('hex')}`)
        }
        if (pixelCount(op) > b.maxStrokePixels) problems.push(`accepted oversized stroke on ${buf.toString('hex')}`)
      } else if (op.kind === 'rect') {
        if (op.w === 0 || op.h === 0 || op.x + op.w > b.width || op.y + op.h > b.height || op.w * op.h > b.maxRectPixels) {
          problems.push(`accepted bad rect on ${buf.toString('hex')}`)
        }
      } else if (op.x >= b.width || op.y >= b.height) {
        problems.push(`accepted out-of-bounds cursor on ${buf.toString('hex')}`)
      }
    } else {
      if (!known.has(res.error.code)) problems.push(`unknown code ${res.error.code} on ${buf.toString('hex')}`)
      if (typeof res.error.message !== 'string' || res.error.message.length === 0) problems.push(`empty message on ${buf.toString('hex')}`)
      seen.set(res.error.code, (seen.get(res.error.code) ?? 0) + 1)
    }
  }
  t.comment(JSON.stringify(Object.fromEntries(seen)))
  t.strictSame(problems.slice(0, 10), [], 'no problems')
  let total = 0
  for (const n of seen.values()) total += n
  t.equal(total, N, 'every input decoded')
  // the generator reaches every outcome, so the loop tests something
  for (const outcome of ['ok:pixels', 'ok:rect', 'ok:cursor', 'BAD_MESSAGE', 'OUT_OF_BOUNDS', 'TOO_LARGE']) {
    t.ok((seen.get(outcome) ?? 0) > 0, `fuzz reached ${outcome}`)
  }
})
