// Per-component CPU cost of the fan-out-heavy load (issue 11), measured in
// one single-threaded process with fixed work, so that the figures do not
// follow the machine's load the way the bench's server CPU does. Each case
// is warmed up, then timed in ROUNDS short rounds; it reports the fastest
// round and the median, in ns per unit of work. Run:
//
//   npx tsx bench/cost.ts [case,case]     (taskset -c 1 for steadier figures)
//
// Instruction counts, which do not depend on the machine's load at all:
// `--rounds N` runs each chosen case's warm-up and then N untimed rounds;
// with `--no-run` the rounds do only the part between rounds. The
// difference between the two under callgrind is N rounds of the timed part:
//
//   valgrind --tool=callgrind --callgrind-out-file=/dev/null \
//     node --import tsx bench/cost.ts CASE --rounds 200 [--no-run]
//
// That holds where the part between rounds does not depend on the round
// (append, append-rr, d-intake, d-deliver); intake's commits what its round
// queued, so read intake and deliver from their timings.
//
// Case names with a `d-` prefix run (d)'s side alone (d-intake, d-deliver);
// `deliver-only` is pixelwire's deliver alone (1,000 clients), `deliver-1`
// the same beat to one client: its commit and fixed part, so one client's
// part alone is (deliver-only - deliver-1) / 999 per round. A before/after
// of the per-client chain needs only deliver-only (the commit is the same).
//
// Cases, each beside what baseline (d) (bench/baselines/ws-batched.ts) does
// for the same work where it does any:
//   intake    one 8-byte PIXEL message as the ws route handles it (decode,
//             role check, pixel budget, the intake, the pixel-delay queue,
//             the counters), 10 painters round-robin like the bench's;
//             (d): its onDraw (a bounds check and a copy)
//   append    canvas-store.append of a 500-pixel batch by 10 painters
//             round-robin (500 runs), per pixel, into a real SQLite file;
//             (d): nothing (it persists nothing)
//   deliver   a beat's delivery to 1,000 clients in sync (hub.deliver ->
//             ClientSync.sendTo -> Connection.sendShared -> transport, with
//             a transport whose write does nothing), per client;
//             (d): its per-tick loop (writableLength, write) over the same
//             number of fake sockets
//   append-random  append with pixels anywhere on the canvas (not in the
//             default set): each random pixel's entry in the pixel-history
//             index lands on its own index page, so the cost grows with
//             the log, unlike the rows' case; (d): nothing
//   observe   one pixel-delay observation: src/metrics.ts's LocalHistogram,
//             and prom-client's Histogram as it was used before
//   spikes    not a per-unit cost: the CPU time of each of 600 commits of
//             500 pixels (one beat at 10,000 px/s), with SQLite's automatic
//             checkpoint every 1,000 WAL pages (inside a commit, before its
//             frames) and with it moved to after the beat (BEAT_CHECKPOINT_MS:
//             only a backstop at AUTOCHECKPOINT_PAGES in the commit)
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createCanvasService, type CanvasService } from '../src/canvas/canvas-service.js'
import { createMemoryBroker } from '../src/broker/memory.js'
import { Connection, type SharedFrame, type Transport } from '../src/connection/connection.js'
import { createMessageHandler } from '../src/connection/session.js'
import { createPipeline } from '../src/hub/fanout.js'
import { LocalHistogram, createMeter } from '../src/metrics.js'
import promClient from 'prom-client'
import { MIGRATIONS_DIR } from '../src/paths.js'
import { openDatabase } from '../src/persistence/db.js'
import { createCanvasStore, type Authorship } from '../src/persistence/canvas-store.js'
import { createCanvasLog } from '../src/persistence/canvas-log.js'
import { AUTOCHECKPOINT_PAGES } from '../src/persistence/wal.js'
import { encodePixel } from '../src/protocol/client-frames.js'
import { createPixelBudget } from '../src/rate/pixel-budget.js'
import { PIXEL_RECORD_BYTES as RECORD, readU16, writePixelRecord } from '../src/protocol/wire.js'

const ROUNDS = 31
const WARMUP = 8
const PAINTERS = 10
const silent = { info () {}, warn () {}, error () {} }

let sink = 0

/** `run()` does `units` units of work; `between()`, untimed, resets state between rounds. */
interface Case { name: string, units: number, run: () => void, between?: () => void }

function time (c: Case): { best: number, median: number } {
  const ns: number[] = []
  for (let r = 0; r < WARMUP + ROUNDS; r++) {
    c.between?.()
    const t0 = process.hrtime.bigint()
    c.run()
    const dt = Number(process.hrtime.bigint() - t0)
    if (r >= WARMUP) ns.push(dt / c.units)
  }
  ns.sort((a, b) => a - b)
  return { best: ns[0], median: ns[ns.length >> 1] }
}

function report (c: Case): void {
  const { best, median } = time(c)
  console.log(`${c.name.padEnd(48)} best ${best.toFixed(1).padStart(8)} ns   median ${median.toFixed(1).padStart(8)} ns`)
}

const dir = mkdtempSync(join(tmpdir(), 'pixelwire-cost-'))
process.on('exit', () => rmSync(dir, { recursive: true, force: true }))

class NullTransport implements Transport {
  bufferedAmount = 0
  send (_d: Buffer | string): void { sink++ }
  sendShared (f: SharedFrame): void { sink += f.bytes }
  close (): void {}
  ping (): void {}
  terminate (): void {}
}

function service (file: string, width = 1024, height = 1024) {
  const db = openDatabase({ file, migrationsDir: MIGRATIONS_DIR })
  const store = createCanvasStore(db)
  const meter = createMeter()
  const { hub, broker, fanout } = createPipeline<Connection>(createMemoryBroker())
  const svc: CanvasService<Connection> = createCanvasService<Connection>({
    store,
    canvasLog: createCanvasLog(store),
    hub,
    broker,
    fanout,
    log: silent,
    tickMs: 50,
    maxPendingPixels: 100_000,
    maxReplay: 100_000,
    sendBufferBytes: 1 << 20,
    snapshotEvery: 1e12,
    defaultCanvas: { id: 'main', width, height },
    meter
  })
  svc.load()
  let ids = 0
  const connect = (role: 'admin' | 'viewer', name = `user ${ids}`) => new Connection(++ids, new NullTransport(), { id: `sub-${ids}`, name, role, exp: 0 }, 'main', '127.0.0.1', {
    sendBufferBytes: 1 << 20, badMessageWindowMs: 60_000, rateAbuseWindowMs: 60_000, meter, frames: hub.frames
  })
  return { db, store, svc, meter, hub, connect }
}

/** (a) The intake path of a PIXEL message, 500 messages a round, the intake emptied between rounds. */
function intakeCase (): Case {
  const { svc, meter, connect } = service(join(dir, 'intake.db'))
  const onMessage = createMessageHandler({
    canvases: svc,
    streams: {} as never,
    presence: {} as never,
    log: silent,
    pixels: createPixelBudget({ rate: 1e9, burst: 1e9, guestIpRate: 1, guestIpBurst: 1 }),
    verifyToken () { throw new Error('unused') },
    maxStrokePixels: 500,
    maxRectPixels: 500,
    badMessageLimit: 10,
    rateAbuseLimit: 10,
    meter
  })
  const painters = Array.from({ length: PAINTERS }, () => connect('admin'))
  const N = 500
  const msgs = Array.from({ length: N }, (_v, i) => encodePixel(i % 1024, (i >> 10) % 1024, i, (n) => Buffer.allocUnsafe(n)))
  return {
    name: 'intake: one PIXEL message',
    units: N,
    between: () => svc.flush(),
    run () { for (let i = 0; i < N; i++) onMessage(painters[i % PAINTERS], msgs[i], true) }
  }
}

/** (d)'s onDraw for the same messages (bench/baselines/ws-batched.ts). */
function intakeBaseline (): Case {
  const N = 500
  const msgs = Array.from({ length: N }, (_v, i) => encodePixel(i % 1024, (i >> 10) % 1024, i, (n) => Buffer.allocUnsafe(n)))
  let batch = Buffer.allocUnsafe(64 * 1024)
  let used = 13
  function onDraw (data: Buffer, isBinary: boolean): void {
    if (!isBinary || data.length < 8) return
    const count = data[0] === 0 && data.length === 8 ? 1 : data[0] === 1 && data.length === 3 + RECORD * readU16(data, 1) ? readU16(data, 1) : 0
    const from = data[0] === 0 ? 1 : 3
    if (used + RECORD * count > batch.length) {
      const grown = Buffer.allocUnsafe(Math.max(2 * batch.length, used + RECORD * count))
      batch.copy(grown, 0, 0, used)
      batch = grown
    }
    for (let o = from; o < from + RECORD * count; o += RECORD) {
      if (readU16(data, o) >= 1024 || readU16(data, o + 2) >= 1024) continue
      data.copy(batch, used, o, o + RECORD)
      used += RECORD
    }
  }
  return {
    name: '(d) intake: one PIXEL message',
    units: N,
    between: () => { used = 13 },
    run () { for (let i = 0; i < N; i++) onDraw(msgs[i], true) }
  }
}

/**
 * (b) canvas-store.append of 500 pixels, per pixel. `random`: pixels
 * anywhere on the canvas (a deterministic sequence), as a crowd paints,
 * instead of the bench's painters' consecutive pixels along rows.
 */
function appendCase (name: string, runOf: number, random = false): Case {
  const db = openDatabase({ file: join(dir, `append-${runOf}${random ? '-random' : ''}.db`), migrationsDir: MIGRATIONS_DIR })
  const store = createCanvasStore(db)
  store.insert({ id: 'main', width: 1024, height: 1024, epoch: 'e', seq: 0, createdAt: 0 })
  const N = 500
  const records = Buffer.allocUnsafe(N * RECORD)
  let n = 0
  let lcg = 1
  const authors: Authorship[] = []
  for (let i = 0; i < N; i += runOf) authors.push({ user: `sub-${(i / runOf) % PAINTERS}`, name: `user ${(i / runOf) % PAINTERS}`, count: Math.min(runOf, N - i) })
  return {
    name,
    units: N,
    between () {
      // the bench's painters: consecutive pixels along rows; or random ones
      // (an LCG, the same sequence every run)
      for (let i = 0; i < N; i++, n++) {
        if (random) writePixelRecord(records, i * RECORD, (lcg = (lcg * 1103515245 + 12345) >>> 0) >>> 22, (lcg = (lcg * 1103515245 + 12345) >>> 0) >>> 22, n)
        else writePixelRecord(records, i * RECORD, n % 1024, (n >> 10) % 1024, n)
      }
    },
    run () { store.append('main', records, authors) }
  }
}

/** (c) One beat's delivery to `count` clients in sync (1,000 like the bench's), per client. */
function deliverCase (count = 1000): Case {
  const { svc, connect } = service(join(dir, 'deliver.db'))
  const canvas = svc.get('main')!
  const clients = Array.from({ length: count }, () => connect('viewer'))
  for (const c of clients) svc.attach(c, canvas, 0)
  const painter = connect('admin')
  const rec = Buffer.alloc(RECORD)
  let n = 0
  return {
    name: `deliver: one client in sync, one beat (+commit/${count})`,
    units: clients.length,
    between () {
      writePixelRecord(rec, 0, n % 1024, 0, n++)
      svc.draw(canvas, { kind: 'pixels', records: rec }, painter.user.id, painter.id, painter.user.name)
    },
    run: () => svc.flush()
  }
}

function deliverBaseline (): Case {
  interface Sock { writableLength: number, write (b: Buffer): boolean }
  const clients: Array<{ socket: Sock }> = Array.from({ length: 1000 }, () => ({ socket: { writableLength: 0, write (b: Buffer) { sink += b.length; return true } } }))
  const framed = Buffer.alloc(64)
  return {
    name: '(d) deliver: one client, one tick',
    units: clients.length,
    run () {
      for (let i = clients.length - 1; i >= 0; i--) {
        const c = clients[i]
        if (c.socket.writableLength > 1 << 20) continue
        c.socket.write(framed)
      }
    }
  }
}

/** CPU time per commit over 600 beats' worth, SQLite's checkpoint inside the commits or not. */
function commitSpikes (label: string, autocheckpointPages: number): void {
  const db = openDatabase({ file: join(dir, `spikes-${autocheckpointPages}.db`), migrationsDir: MIGRATIONS_DIR })
  db.pragma(`wal_autocheckpoint = ${autocheckpointPages}`)
  const store = createCanvasStore(db)
  store.insert({ id: 'main', width: 1024, height: 1024, epoch: 'e', seq: 0, createdAt: 0 })
  const N = 500
  const records = Buffer.allocUnsafe(N * RECORD)
  const authors: Authorship[] = Array.from({ length: N }, (_v, i) => ({ user: `sub-${i % PAINTERS}`, name: `user ${i % PAINTERS}`, count: 1 }))
  const ms: number[] = []
  let n = 0
  for (let r = 0; r < 600; r++) {
    for (let i = 0; i < N; i++, n++) writePixelRecord(records, i * RECORD, n % 1024, (n >> 10) % 1024, n)
    const cpu = process.cpuUsage()
    store.append('main', records, authors)
    const used = process.cpuUsage(cpu)
    ms.push((used.user + used.system) / 1000)
  }
  const slow = ms.flatMap((m, i) => m > 3 ? [i] : [])
  const sorted = [...ms].sort((a, b) => a - b)
  console.log(`${label.padEnd(48)} CPU per commit p50 ${sorted[300].toFixed(2)} ms, p99 ${sorted[594].toFixed(2)} ms, max ${sorted[599].toFixed(2)} ms; over 3 ms: ${slow.length} (commits ${slow.slice(0, 12).join(', ')}${slow.length > 12 ? ', ...' : ''})`)
  db.close()
}

/** A pixel-delay observation: the histogram kept as plain numbers (src/metrics.ts) and prom-client's, per observation. */
function observeCase (local: boolean): Case {
  const N = 1000
  const bounds = [0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.25, 0.35, 0.5, 0.75, 1, 2.5]
  const values = Array.from({ length: N }, (_v, i) => (i % 120) / 1000)
  if (local) {
    const h = new LocalHistogram(bounds)
    return { name: 'observe: LocalHistogram', units: N, run () { for (let i = 0; i < N; i++) h.observe(values[i]) } }
  }
  const h = new promClient.Histogram({ name: 'cost_observe_seconds', help: 'bench', buckets: bounds, registers: [new promClient.Registry()] })
  return { name: 'observe: prom-client Histogram', units: N, run () { for (let i = 0; i < N; i++) h.observe(values[i]) } }
}

const CASES: Record<string, Array<() => Case>> = {
  intake: [intakeCase, intakeBaseline],
  append: [() => appendCase('append: 500 px, 10 painters round-robin, per px', 1), () => appendCase('append: 500 px, one painter, per px', 500)],
  'append-rr': [() => appendCase('append: 500 px, 10 painters round-robin, per px', 1)],
  // not in the default set: its cost grows with the log (every run's file starts empty)
  'append-random': [() => appendCase('append: 500 random px, 10 painters round-robin, per px', 1, true)],
  observe: [() => observeCase(true), () => observeCase(false)],
  deliver: [() => deliverCase(), deliverBaseline],
  'd-intake': [intakeBaseline],
  'd-deliver': [deliverBaseline],
  'intake-only': [intakeCase],
  'deliver-only': [() => deliverCase()],
  // one client: the beat's commit and the fixed part of its delivery, so that
  // (deliver-only - deliver-1) / 999 is one client's part alone (callgrind)
  'deliver-1': [() => deliverCase(1)]
}

const args = process.argv.slice(2)
const roundsAt = args.indexOf('--rounds')
const fixedRounds = roundsAt >= 0 ? Number(args.splice(roundsAt, 2)[1]) : null
const noRunAt = args.indexOf('--no-run')
const noRun = noRunAt >= 0 && args.splice(noRunAt, 1).length > 0
const chosen = args[0]?.split(',') ?? ['intake', 'append', 'deliver', 'spikes']
for (const name of chosen) {
  if (name === 'spikes') {
    commitSpikes('spikes: checkpoint in the commit (1,000 pages)', 1000)
    commitSpikes(`spikes: checkpoint after the beat (${AUTOCHECKPOINT_PAGES} in it)`, AUTOCHECKPOINT_PAGES)
    continue
  }
  for (const make of CASES[name] ?? []) {
    const c = make()
    if (fixedRounds === null) { report(c); continue }
    for (let r = 0; r < WARMUP + fixedRounds; r++) { c.between?.(); if (r < WARMUP || !noRun) c.run() }
  }
}
if (sink === -1) console.log(sink)
