// Micro-benchmark of the server's hot encode and decode paths: the wire
// module as the server calls it (src/protocol/codec.ts) against the codec it
// replaced (bench/codec-baseline.ts), side by side in one single-threaded
// process, ~6 s. Run: npx tsx bench/codec.ts (taskset -c 1 for steadier
// numbers).
//
// Every case is warmed up first (so both run optimized code with feedback
// for every path), then timed in short rounds, alternating which
// implementation goes first. It reports the fastest round's ns per call of
// each (on a shared machine, the round least disturbed by other
// processes), their ratio new / old (below 1 is faster), and the ratio of
// the medians. Inputs are Buffers, as the server gets them.
//
// Reading it: a single-op decode case of 15-35 ns (RECT, CURSOR) may land
// in a slower JIT state for either implementation in one run (running the
// old decoder against itself shows the same spread between runs, not within
// one); the mix is what a server does.
import * as old from './codec-baseline.js'
import * as wire from '../src/protocol/codec.js'

const ROUND_MS = 5
const ROUNDS = 41
const WARMUP_ROUNDS = 10

let sink = 0

interface Case { name: string, old: () => void, new: () => void }

function pixelsMsg (n: number): Buffer {
  const b = Buffer.alloc(3 + 7 * n)
  b[0] = 0x01
  b.writeUInt16BE(n, 1)
  for (let i = 0; i < n; i++) { b.writeUInt16BE(i % 1024, 3 + 7 * i); b.writeUInt16BE((i * 7) % 1024, 5 + 7 * i); b[9 + 7 * i] = i & 0xff }
  return b
}

function recordsOf (n: number): Buffer {
  return pixelsMsg(n).subarray(3)
}

const bounds = { width: 1024, height: 1024, maxStrokePixels: 1024, maxRectPixels: 4096 }
const pixel = Buffer.from([0x00, 0x01, 0x02, 0x03, 0x04, 9, 8, 7])
const stroke64 = pixelsMsg(64)
const stroke1024 = pixelsMsg(1024)
const rect = Buffer.from([0x02, 0, 10, 0, 20, 0, 30, 0, 40, 1, 2, 3])
const cursor = Buffer.from([0x03, 0x01, 0x02, 0x03, 0x04])
const rec10 = recordsOf(10)
const rec1000 = recordsOf(1000)
const rec65536 = Buffer.concat(Array.from({ length: 64 }, () => recordsOf(1024)))
const deflated = Buffer.alloc(50_000, 0x5a)
const cursors50 = Array.from({ length: 50 }, (_v, i) => ({ connectionId: 1000 + i, x: i * 13, y: i * 7 }))
const rows1000 = Array.from({ length: 1000 }, (_v, i): [number, number, number] => [i % 1024, (i * 7) % 1024, i * 4099 & 0xffffff])
let seq = 1_000_000

// Each case has its own closures (not made by one factory): closures of one
// function literal share their optimized code, so one case's inlining
// decisions would be another's.

// What a server reads: mostly single pixels, some strokes, cursors, a few rects.
const mix = [pixel, pixel, pixel, pixelsMsg(16), cursor, pixel, pixel, pixelsMsg(16), cursor, rect]
let next = 0

const cases: Case[] = [
  {
    name: 'decode mix of 10',
    old: () => { for (let i = 0; i < mix.length; i++) sink += old.decodeClientBinary(mix[(next + i) % mix.length], bounds).ok ? 1 : 0; next++ },
    new: () => { for (let i = 0; i < mix.length; i++) sink += wire.decodeClientBinary(mix[(next + i) % mix.length], bounds).ok ? 1 : 0; next++ }
  },
  { name: 'decode PIXEL', old: () => { sink += old.decodeClientBinary(pixel, bounds).ok ? 1 : 0 }, new: () => { sink += wire.decodeClientBinary(pixel, bounds).ok ? 1 : 0 } },
  { name: 'decode PIXELS x64', old: () => { sink += old.decodeClientBinary(stroke64, bounds).ok ? 1 : 0 }, new: () => { sink += wire.decodeClientBinary(stroke64, bounds).ok ? 1 : 0 } },
  { name: 'decode PIXELS x1024', old: () => { sink += old.decodeClientBinary(stroke1024, bounds).ok ? 1 : 0 }, new: () => { sink += wire.decodeClientBinary(stroke1024, bounds).ok ? 1 : 0 } },
  { name: 'decode RECT', old: () => { sink += old.decodeClientBinary(rect, bounds).ok ? 1 : 0 }, new: () => { sink += wire.decodeClientBinary(rect, bounds).ok ? 1 : 0 } },
  { name: 'decode CURSOR', old: () => { sink += old.decodeClientBinary(cursor, bounds).ok ? 1 : 0 }, new: () => { sink += wire.decodeClientBinary(cursor, bounds).ok ? 1 : 0 } },
  { name: 'encode UPDATES x10', old: () => { sink += old.encodeUpdates(++seq, rec10).length }, new: () => { sink += wire.encodeUpdates(++seq, rec10).length } },
  { name: 'encode UPDATES x1000', old: () => { sink += old.encodeUpdates(++seq, rec1000).length }, new: () => { sink += wire.encodeUpdates(++seq, rec1000).length } },
  { name: 'encode UPDATES x65536', old: () => { sink += old.encodeUpdates(++seq, rec65536).length }, new: () => { sink += wire.encodeUpdates(++seq, rec65536).length } },
  { name: 'encode SNAPSHOT 50 KB', old: () => { sink += old.encodeSnapshot(++seq, 1024, 1024, 1, deflated).length }, new: () => { sink += wire.encodeSnapshot(++seq, 1024, 1024, 1, deflated).length } },
  { name: 'encode CURSORS x50', old: () => { sink += old.encodeCursors(cursors50).length }, new: () => { sink += wire.encodeCursors(cursors50).length } },
  { name: 'rectRecords 64x64', old: () => { sink += old.rectRecords(3, 4, 64, 64, 0x123456).length }, new: () => { sink += wire.rectRecords(3, 4, 64, 64, 0x123456).length } },
  {
    // canvas-store changesAfter: log rows packed as records (catch-up, boot)
    name: 'pack 1000 log rows',
    old: () => {
      const out = Buffer.allocUnsafe(rows1000.length * 7)
      let off = 0
      for (const [x, y, color] of rows1000) {
        out.writeUInt16BE(x, off); out.writeUInt16BE(y, off + 2)
        out[off + 4] = color >>> 16; out[off + 5] = (color >>> 8) & 0xff; out[off + 6] = color & 0xff
        off += 7
      }
      sink += out[off - 1]
    },
    new: () => {
      const out = Buffer.allocUnsafe(rows1000.length * wire.PIXEL_RECORD_BYTES)
      let off = 0
      for (const [x, y, color] of rows1000) { wire.writePixelRecord(out, off, x, y, color); off += wire.PIXEL_RECORD_BYTES }
      sink += out[off - 1]
    }
  },
  {
    // canvas-store commit: each record read for its change-log row
    name: 'read 1000 records',
    old: () => {
      for (let off = 0; off < rec1000.length; off += 7) sink += rec1000.readUInt16BE(off) + rec1000.readUInt16BE(off + 2) + ((rec1000[off + 4] << 16) | (rec1000[off + 5] << 8) | rec1000[off + 6])
    },
    new: () => {
      for (let off = 0; off < rec1000.length; off += wire.PIXEL_RECORD_BYTES) sink += wire.readU16(rec1000, off) + wire.readU16(rec1000, off + 2) + wire.readRgb(rec1000, off + 4)
    }
  }
]

/** Calls per round so that a round takes about ROUND_MS. */
function calibrate (fn: () => void): number {
  let n = 1
  for (;;) {
    const t0 = performance.now()
    for (let i = 0; i < n; i++) fn()
    const ms = performance.now() - t0
    if (ms >= ROUND_MS / 4) return Math.max(1, Math.round(n * ROUND_MS / ms))
    n *= 2
  }
}

function round (fn: () => void, n: number): number {
  const t0 = process.hrtime.bigint()
  for (let i = 0; i < n; i++) fn()
  return Number(process.hrtime.bigint() - t0) / n
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]
const fmt = (ns: number) => ns < 100 ? ns.toFixed(1) : ns.toFixed(0)

// Same answers first: a fast wrong codec is no win.
for (const msg of [pixel, stroke64, rect, cursor]) {
  if (JSON.stringify(old.decodeClientBinary(msg, bounds)) !== JSON.stringify(wire.decodeClientBinary(msg, bounds))) throw new Error(`decoders disagree on op ${msg[0]}`)
}
if (!old.encodeUpdates(7, rec1000).equals(wire.encodeUpdates(7, rec1000))) throw new Error('UPDATES differ')
if (!old.encodeSnapshot(7, 3, 4, 1, deflated).equals(wire.encodeSnapshot(7, 3, 4, 1, deflated))) throw new Error('SNAPSHOT differs')
if (!old.encodeCursors(cursors50).equals(wire.encodeCursors(cursors50))) throw new Error('CURSORS differ')
if (!old.rectRecords(3, 4, 5, 6, 7).equals(wire.rectRecords(3, 4, 5, 6, 7))) throw new Error('rect records differ')

// Every path of every function runs before anything is timed, so no case
// pays for re-optimizing a function that an earlier case left without
// feedback for its path.
for (let r = 0; r < 3; r++) for (const c of cases) { const n = calibrate(c.old); round(c.old, n); round(c.new, n) }

console.log(`node ${process.version}, ${ROUNDS} rounds of ~${ROUND_MS} ms each; ns per call in the fastest round`)
console.log(`${'case'.padEnd(24)} ${'old ns'.padStart(9)} ${'new ns'.padStart(9)} ${'new/old'.padStart(8)} ${'medians'.padStart(8)}`)
const ratios: number[] = []
const medianRatios: number[] = []
for (const c of cases) {
  const n = Math.min(calibrate(c.old), calibrate(c.new))
  for (let r = 0; r < WARMUP_ROUNDS; r++) { round(c.old, n); round(c.new, n) }
  const times = { old: [] as number[], new: [] as number[] }
  for (let r = 0; r < ROUNDS; r++) {
    const order = r % 2 === 0 ? (['old', 'new'] as const) : (['new', 'old'] as const)
    for (const k of order) times[k].push(round(c[k], n))
  }
  const o = Math.min(...times.old)
  const w = Math.min(...times.new)
  const m = median(times.new) / median(times.old)
  ratios.push(w / o)
  medianRatios.push(m)
  console.log(`${c.name.padEnd(24)} ${fmt(o).padStart(9)} ${fmt(w).padStart(9)} ${(w / o).toFixed(2).padStart(8)} ${m.toFixed(2).padStart(8)}`)
}
const geo = (xs: number[]) => Math.exp(xs.reduce((s, r) => s + Math.log(r), 0) / xs.length).toFixed(2)
console.log(`${'geometric mean'.padEnd(24)} ${''.padStart(9)} ${''.padStart(9)} ${geo(ratios).padStart(8)} ${geo(medianRatios).padStart(8)}`)
if (sink === 0.5) console.log(sink) // keeps the results alive
