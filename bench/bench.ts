// The benchmark: pixelwire side by side with the baselines people would
// otherwise pick, in the same run, on the same machine, with the same
// clients. Every figure is also given as a ratio, because on a shared
// machine absolute numbers are noisy and ratios are what carries over.
//
//   npm run bench                       the full run (~20-25 min), writes bench/results/<date>.md
//   npm run bench -- --help             prints this comment
//   npm run bench -- --quick            every scenario, scaled down (~5 min), to bench/results/<date>-quick.tmp
//   npm run bench -- --scenario fanout-heavy,burner --servers pixelwire,ws-batched [--quick]
//
// Options (every one but --out and --help makes the run partial: it writes
// bench/results/<date>-quick.tmp or <date>-partial.tmp, ignored by git):
//   --quick                   every scenario scaled down (about 20x fewer deliveries, 8 s windows)
//   --scenario A,B            run only these scenarios (below; default: all, in that order)
//   --servers A,B             run only these servers: pixelwire, ws-batched, ws, sio, sio-batched
//   --env K=V,K=V             extra server variables for every pixelwire run (experiments)
//   --client-nice N           the load generator's processes run at nice N (the servers at 0)
//   --profile DIR             pixelwire runs with --cpu-prof into DIR
//   --profile-workers         with --profile: the client processes too (DIR/workers)
//   --cpu-burner              a competing CPU load (lib/burner.ts) in every traffic run of this
//                             invocation (fanout, saturation, adaptive, slow, fanout-heavy): a
//                             busy-loop process started before the painting window and killed
//                             at its end, pinned with the server to one core
//   --cpu-burner-core N|none  that core (default 0); none: neither is pinned
//   --cpu-burner-nice N       the burner's nice value (default 0, the server's own)
//   --no-build                skip `npm run build` (uses the dist/ already there)
//   --pixelwire-dir DIR       run pixelwire from another checkout's build (DIR/dist/src/server.js,
//                             built beforehand), e.g. the commit before a hot-path change, with
//                             this harness: before/after with the same clients
//   --repeat N                saturation, fanout-heavy and burner: the pixelwire/(d) pair N times
//                             (default 1), alternating which goes first (p,d / d,p / p,d ...),
//                             each run on a fresh server as always; every pair's rows, the
//                             ratios of all pairs with their median, min and max, and each
//                             issue-11 target judged on the median ratio (lib/repeat.ts). The
//                             other baselines of saturation run once, after the first pair.
//                             Each pair past the first adds two traffic runs per scenario (the
//                             hard deadline grows with N). docs/benchmarks.md: "Repeated pairs"
//   --out FILE                write the results to FILE instead of bench/results/<date>...
//                             (with --repeat too, so a repeated run can be committed)
//
// Scenarios (full sizes; every traffic run measures delivered pixels/s,
// latency p50/p99/max, server CPU and RSS):
//   fanout        2,000 receivers, 2,000 px/s, 30 s; every server
//   saturation    10,000 receivers, 10,000 px/s, 30 s; pixelwire, then (d), (a), (b), (c);
//                 issue 11: delivered >= 1.0x (d), p99 <= 1.0x (d), max <= 1.2x (d)
//   adaptive      the saturation load, pixelwire with the adaptive tick and with a fixed one
//   idle          10,000 idle connections, RSS per connection; pixelwire, (a), (b), (c)
//   join          1,000 clients join within 2 s, time to SNAPSHOT; pixelwire, (a), (b), (c)
//   persistence   150,000 px/s in strokes of 500, committed/s; pixelwire
//   slow          2,000 receivers, 10% stop reading, 2,000 px/s; pixelwire, (a)
//   fanout-heavy  1,000 receivers, 10,000 px/s, 30 s; pixelwire, (d); issue 11: delivered
//                 >= 1.0x (d), p99 <= 1.0x (d), server CPU per delivered update <= 1.05x (d)
//   burner        the fanout-heavy load with the CPU burner on; pixelwire, (d);
//                 issue 11: p99 <= 1.0x (d)
//   cluster       issue 12, pixelwire only, each cluster row on a fresh redis-server of its own
//                 (/usr/bin/redis-server, free port, temp dir, appendonly yes): 2,000 receivers,
//                 2,000 px/s, 30 s, one node without Redis, then 2 nodes + Redis (receivers and
//                 painters split over them): every pixel to every receiver, p99 <= 1.5x one node;
//                 each node's and Redis's CPU; Redis round trips per beat per node, counted by
//                 Redis, again at 500 receivers x 500 px/s (15 s); then WORKERS=1 and WORKERS=2
//                 (20 s each): CPU per delivered update per process. About 4 minutes.
//
// Servers: pixelwire (the build, as in production), and bench/baselines/:
// (d) `ws-batched` plain ws, coalesced per tick, one UPDATES frame framed once
// for everyone (the peer to beat), (a) `ws` naive @fastify/websocket
// broadcast, (b) `sio` Socket.IO naive broadcast, (c) `sio-batched`
// Socket.IO coalesced per tick.
// Clients are separate processes (lib/worker.ts): receivers, painters, joiners.
// Bounded: every run has fixed counts and durations, talks to 127.0.0.1
// only, and the whole bench has a hard deadline after which it kills
// everything it started and exits.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { cpus, loadavg, setPriority, tmpdir, totalmem, release } from 'node:os'
import { dirname, join } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { createSigner } from 'fast-jwt'
import WebSocket from 'ws'
import { checkPinning, startBurner, type BurnerOptions } from './lib/burner.js'
import { startRedis, tripsBegin, tripsEnd, type RoundTrips } from './lib/redis.js'
import { describe, listRatios, meets, meetsOnMedian, pairOrder, summarize } from './lib/repeat.js'
import { bucketQuantile, histogramOf, machineCpu, sampleProc, sleep, socketInodes, startServer, stopServer, tcpTable, type Server } from './lib/server.js'
import { Histogram } from './lib/stats.js'
import type { ClientSet, Command, Kind, Report } from './lib/worker.js'

// ---------------------------------------------------------------- arguments

const argv = process.argv.slice(2)
const flag = (name: string) => argv.includes(`--${name}`)
const option = (name: string) => { const i = argv.indexOf(`--${name}`); return i >= 0 ? argv[i + 1] : undefined }
if (flag('help')) {
  // the header comment above is the manual
  const text = readFileSync(fileURLToPath(import.meta.url), 'utf8').split('\n')
  console.log(text.slice(0, text.findIndex((l) => !l.startsWith('//'))).map((l) => l.replace(/^\/\/ ?/, '')).join('\n'))
  process.exit(0)
}
const FLAGS = ['help', 'quick', 'profile-workers', 'cpu-burner', 'no-build']
const OPTIONS = ['scenario', 'servers', 'env', 'client-nice', 'profile', 'cpu-burner-core', 'cpu-burner-nice', 'out', 'pixelwire-dir', 'repeat']
for (let i = 0; i < argv.length; i++) {
  const name = argv[i].replace(/^--/, '')
  if (OPTIONS.includes(name) && i + 1 < argv.length) i++
  else if (!FLAGS.includes(name)) throw new Error(`bench: unknown or incomplete argument ${argv[i]} (npm run bench -- --help)`)
}
const quick = flag('quick')
const SCENARIOS = ['fanout', 'saturation', 'adaptive', 'idle', 'join', 'persistence', 'slow', 'fanout-heavy', 'burner', 'cluster'] as const
type Scenario = typeof SCENARIOS[number]
const chosen = (option('scenario')?.split(',') ?? [...SCENARIOS]) as Scenario[]
for (const s of chosen) if (!SCENARIOS.includes(s)) throw new Error(`unknown scenario ${s}: expected ${SCENARIOS.join(',')}`)
// (d) right after pixelwire: the pair the issue-11 targets compare runs back to back.
const TARGETS = ['pixelwire', 'ws-batched', 'ws', 'sio', 'sio-batched'] as const
type TargetName = typeof TARGETS[number]
const servers = (option('servers')?.split(',') ?? [...TARGETS]) as TargetName[]
for (const t of servers) if (!TARGETS.includes(t)) throw new Error(`unknown server ${t}: expected ${TARGETS.join(',')}`)
/** --env K=V,K=V: extra server variables for every pixelwire run (experiments; the run is then partial) */
const extraEnv = Object.fromEntries((option('env') ?? '').split(',').filter(Boolean).map((kv) => kv.split('=') as [string, string]))
/** --client-nice N: the load generator's processes run at this nice value (the servers at 0) */
const clientNice = Number(option('client-nice') ?? 0)
/** --profile DIR: pixelwire runs with --cpu-prof, profiles written to DIR */
const profileDir = option('profile')
/** --cpu-burner: a competing CPU load beside the server in every traffic run (the `burner` scenario always has it) */
const burnerFlag = flag('cpu-burner')
/** --repeat N: how many pixelwire/(d) pairs saturation, fanout-heavy and burner run, alternating which goes first */
const repeat = Number(option('repeat') ?? 1)
if (!Number.isInteger(repeat) || repeat < 1) throw new Error(`bench: --repeat wants a whole number >= 1, not ${option('repeat')}`)
/** --pixelwire-dir DIR: the pixelwire build to run (default: this checkout's) */
const pixelwireDir = option('pixelwire-dir')
/** Which pixelwire ran: the checkout and its commit (a dirty tree says so). */
function pixelwireBuild (): string {
  const dir = pixelwireDir ?? '.'
  try {
    const head = execFileSync('git', ['-C', dir, 'rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim()
    const dirty = execFileSync('git', ['-C', dir, 'status', '--porcelain', '--untracked-files=no'], { encoding: 'utf8' }).trim() !== ''
    return `${dir === '.' ? 'this checkout' : dir} at ${head}${dirty ? ' (with uncommitted changes)' : ''}`
  } catch {
    return dir
  }
}
const burnerCore = option('cpu-burner-core') ?? '0'
const burnerOpts: BurnerOptions = { core: burnerCore === 'none' ? null : Number(burnerCore), nice: Number(option('cpu-burner-nice') ?? 0) }
if (burnerFlag || chosen.includes('burner')) checkPinning(burnerOpts.core, cpus().length)
/** Anything that changes what is measured makes the run partial (it is not written as the dated result). */
const full = !quick && !burnerFlag && !flag('no-build') && !flag('profile-workers') &&
  ['client-nice', 'scenario', 'servers', 'profile', 'env', 'cpu-burner-core', 'cpu-burner-nice', 'pixelwire-dir', 'repeat'].every((o) => option(o) === undefined)
/** Hard deadline for the whole bench; each further --repeat pair of the three paired scenarios adds its share. */
const HARD_MS = ((quick ? 12 : 35) + (repeat - 1) * 3 * (quick ? 1.5 : 4)) * 60_000

// Scenario sizes: the issue's, or scaled down with --quick.
const S = quick
  ? { fanout: { receivers: 500, rate: 500, seconds: 8 }, saturation: { receivers: 2000, rate: 4000, seconds: 8 }, adaptive: { receivers: 1000, rate: 4000, seconds: 8 }, idle: 2000, join: { clients: 300, seconds: 1, painted: 100_000 }, persistence: { rate: 150_000, seconds: 8 }, slow: { receivers: 500, rate: 500, seconds: 8 }, heavy: { receivers: 250, rate: 2000, seconds: 8 }, cluster: { receivers: 500, rate: 500, seconds: 8, low: { receivers: 125, rate: 125, seconds: 8 }, workersSeconds: 8 } }
  : { fanout: { receivers: 2000, rate: 2000, seconds: 30 }, saturation: { receivers: 10_000, rate: 10_000, seconds: 30 }, adaptive: { receivers: 10_000, rate: 10_000, seconds: 30 }, idle: 10_000, join: { clients: 1000, seconds: 2, painted: 100_000 }, persistence: { rate: 150_000, seconds: 20 }, slow: { receivers: 2000, rate: 2000, seconds: 30 }, heavy: { receivers: 1000, rate: 10_000, seconds: 30 }, cluster: { receivers: 2000, rate: 2000, seconds: 30, low: { receivers: 500, rate: 500, seconds: 15 }, workersSeconds: 20 } }
const PAINTERS = 10
const PER_WORKER = 2500
const W = 1024
const H = 1024

// ---------------------------------------------------------------- processes

const secret = randomBytes(32).toString('hex')
const started = new Set<ChildProcess>()
const dataDirs: string[] = []
function killAll (): void {
  for (const c of started) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL')
  for (const d of dataDirs) rmSync(d, { recursive: true, force: true })
}
process.once('SIGINT', () => { killAll(); process.exit(130) })
process.once('SIGTERM', () => { killAll(); process.exit(143) })
const hard = setTimeout(() => { console.error(`bench: hard deadline (${HARD_MS / 60_000} min) reached, killing everything`); killAll(); process.exit(2) }, HARD_MS)
hard.unref()

interface Running { pid: number, port: number, stop: () => Promise<void> }

const BASELINE_FILES: Record<Exclude<TargetName, 'pixelwire'>, string> = {
  'ws-batched': 'bench/baselines/ws-batched.ts',
  ws: 'bench/baselines/naive-ws.ts',
  sio: 'bench/baselines/socketio-naive.ts',
  'sio-batched': 'bench/baselines/socketio-batched.ts'
}
const LABEL: Record<TargetName, string> = {
  pixelwire: 'pixelwire',
  'ws-batched': '(d) ws, coalesced per tick, framed once',
  ws: '(a) @fastify/websocket, naive broadcast',
  sio: '(b) Socket.IO, naive broadcast',
  'sio-batched': '(c) Socket.IO, coalesced per tick'
}
// (d) speaks enough of pixelwire's protocol (hello, SNAPSHOT, UPDATES) for the very same client code.
const kindOf = (t: TargetName): Kind => t === 'pixelwire' || t === 'ws-batched' ? 'pixelwire' : t === 'ws' ? 'ws' : 'sio'
/** The servers of the scenarios that predate (d) (idle, join): unchanged, so their results compare with earlier runs. */
const ORIGINAL: readonly TargetName[] = ['pixelwire', 'ws', 'sio', 'sio-batched']
const urlOf = (t: TargetName, port: number) => kindOf(t) === 'sio' ? `http://127.0.0.1:${port}` : `ws://127.0.0.1:${port}/ws`

async function startTarget (t: TargetName, env: Record<string, string> = {}): Promise<Running> {
  if (t === 'pixelwire') {
    const dataDir = mkdtempSync(join(tmpdir(), 'pixelwire-bench-'))
    dataDirs.push(dataDir)
    const s: Server = await startServer({
      JWT_SECRET: secret,
      LOG_LEVEL: 'warn',
      MAX_CONNECTIONS: '50000',
      MAX_CONNECTIONS_PER_IP: '50000',
      HANDSHAKE_RATE: '1000000',
      ...extraEnv,
      ...env,
      HOST: '127.0.0.1',
      PORT: '0',
      DATA_DIR: dataDir
    }, 20_000, profileDir !== undefined ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] : [], pixelwireDir)
    started.add(s.child)
    return {
      pid: s.pid,
      port: s.port,
      stop: async () => {
        const how = await stopServer(s, profileDir !== undefined ? 60_000 : 15_000)
        if (!how.startsWith('exited (0)')) console.log(`  pixelwire ${how}; last lines:\n    ${s.tail.slice(-3).join('\n    ')}`)
        rmSync(dataDir, { recursive: true, force: true })
      }
    }
  }
  const child = spawn(process.execPath, ['--import', 'tsx', BASELINE_FILES[t]], {
    env: { ...process.env, ...env, JWT_SECRET: secret, PORT: '0' },
    stdio: ['ignore', 'pipe', 'inherit']
  })
  started.add(child)
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${t} did not listen within 20 s`)), 20_000)
    child.once('exit', (code) => reject(new Error(`${t} exited (${code}) before listening`)))
    createInterface({ input: child.stdout! }).on('line', (line) => {
      const m = /^listening (\d+)$/.exec(line)
      if (m !== null) { clearTimeout(timer); resolve(Number(m[1])) }
    })
  })
  return {
    pid: child.pid ?? 0,
    port,
    stop: async () => {
      child.kill('SIGKILL')
      if (child.exitCode === null && child.signalCode === null) await new Promise((resolve) => child.once('exit', resolve))
    }
  }
}

/** A load-generator process and a way to call it. */
class Worker {
  readonly child: ChildProcess
  private readonly waiting = new Map<string, (m: any) => void>()
  readonly up: Promise<void>
  constructor () {
    const prof = profileDir !== undefined && flag('profile-workers') ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}/workers`] : []
    this.child = spawn(process.execPath, [...prof, '--import', 'tsx', 'bench/lib/worker.ts'], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
    started.add(this.child)
    if (clientNice !== 0 && this.child.pid !== undefined) setPriority(this.child.pid, clientNice)
    this.up = new Promise((resolve) => this.waiting.set('up', resolve))
    this.child.on('message', (m: { type: string, message?: string }) => {
      if (m.type === 'fatal') console.error(`worker failed: ${m.message}`)
      const w = this.waiting.get(m.type)
      this.waiting.delete(m.type)
      w?.(m)
    })
  }

  async call<T> (cmd: Command, reply: string, timeoutMs: number): Promise<T> {
    await this.up
    const p = new Promise<T>((resolve) => this.waiting.set(reply, resolve))
    this.child.send(cmd)
    const r = await Promise.race([p, sleep(timeoutMs).then(() => null)])
    if (r === null) throw new Error(`worker: no ${reply} within ${timeoutMs} ms`)
    return r
  }

  async exit (): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return
    const gone = new Promise((resolve) => this.child.once('exit', resolve))
    this.child.send({ type: 'exit' })
    if (!await Promise.race([gone.then(() => true), sleep(5000).then(() => false)])) this.child.kill('SIGKILL')
  }
}

function clientSet (t: TargetName, port: number, prefix: string, from: number, count: number, role: 'viewer' | 'admin', extra: Partial<ClientSet> = {}): ClientSet {
  return { kind: kindOf(t), url: urlOf(t, port), secret, prefix, from, count, role, sampleEvery: 0, slowEvery: 0, snapshot: false, ...extra }
}

/**
 * Receivers spread over processes of at most PER_WORKER clients each; with
 * several ports (nodes of a cluster), each process's share is split evenly
 * over them, so the client processes are the same whatever the number of nodes.
 */
async function connectReceivers (t: TargetName, ports: number | number[], n: number, extra: Partial<ClientSet>) {
  const all = typeof ports === 'number' ? [ports] : ports
  const workers: Worker[] = []
  const sets: ClientSet[] = []
  const perWorker: ClientSet[][] = []
  for (let from = 0; from < n; from += PER_WORKER) {
    workers.push(new Worker())
    perWorker.push(splitSet(Math.min(PER_WORKER, n - from), all.length).map(([at, count], i) => clientSet(t, all[i], 'r', from + at, count, 'viewer', extra)))
    sets.push(...perWorker[perWorker.length - 1])
  }
  const t0 = performance.now()
  const ready = await Promise.all(workers.map(async (w, i) => {
    // one set after the other in a process (a worker answers one connect at a time); `connected` is its running total
    let last = { connected: 0, failed: 0, errors: [] as string[] }
    let failed = 0
    for (const set of perWorker[i].filter((x) => x.count > 0)) {
      last = await w.call<{ connected: number, failed: number, errors: string[] }>({ type: 'connect', set, concurrency: 100 }, 'ready', 240_000)
      failed += last.failed
    }
    return { ...last, failed }
  }))
  const connected = ready.reduce((a, r) => a + r.connected, 0)
  console.log(`    ${connected} connected in ${((performance.now() - t0) / 1000).toFixed(1)} s`)
  const errors = [...new Set(ready.flatMap((r) => r.errors))]
  return { workers, sets, connected, errors }
}

/** `count` clients in `parts` contiguous runs as even as can be: [offset, count] of each. */
function splitSet (count: number, parts: number): Array<[number, number]> {
  const out: Array<[number, number]> = []
  for (let i = 0, at = 0; i < parts; i++) {
    const c = Math.floor(count / parts) + (i < count % parts ? 1 : 0)
    out.push([at, c])
    at += c
  }
  return out
}

// ---------------------------------------------------------------- measurements

/** This network namespace's TCP counters (/proc/net/snmp and netstat): retransmits and receive-buffer prunes. */
function tcpCounters (): Record<string, number> {
  const out: Record<string, number> = {}
  for (const file of ['/proc/net/snmp', '/proc/net/netstat']) {
    try {
      const lines = readFileSync(file, 'utf8').trim().split('\n')
      for (let i = 0; i + 1 < lines.length; i += 2) {
        const keys = lines[i].split(/\s+/)
        const values = lines[i + 1].split(/\s+/)
        keys.forEach((k, j) => { if (j > 0) out[`${keys[0]}${k}`] = Number(values[j]) })
      }
    } catch {}
  }
  return out
}
const TCP_SHOWN = ['Tcp:RetransSegs', 'TcpExt:TCPLossProbes', 'TcpExt:PruneCalled', 'TcpExt:TCPTimeouts']
function tcpDelta (before: Record<string, number>): string {
  const after = tcpCounters()
  return TCP_SHOWN.map((k) => `${k.split(':')[1]} ${(after[k] ?? 0) - (before[k] ?? 0)}`).join(', ')
}

/** RSS (MiB) of pid, or of several processes together. */
const rssOf = (pids: number | number[]) => (typeof pids === 'number' ? [pids] : pids).reduce((a, p) => a + (sampleProc(p)?.rss ?? 0), 0)

/** Peak RSS (MiB) of pid (or of several processes together), sampled every 250 ms until stopped. */
function rssPeak (pids: number | number[]) {
  let peak = rssOf(pids)
  const timer = setInterval(() => { peak = Math.max(peak, rssOf(pids)) }, 250)
  return { stop: () => { clearInterval(timer); return peak } }
}

/** pixelwire's /metrics (null for the baselines, which have none). */
async function scrapeMetrics (t: TargetName, port: number): Promise<string | null> {
  if (t !== 'pixelwire') return null
  try { return await (await fetch(`http://127.0.0.1:${port}/metrics`)).text() } catch { return null }
}

/**
 * What the server's own histograms say about the painting window: how many
 * beats ran (so their mean length) and each draw op's delay from its arrival
 * to its UPDATES frames being written to every slot, which splits the end-to-end latency
 * into the server's part and the delivery's (kernel and client processes).
 */
function serverSide (before: string | null, after: string | null, seconds: number): string {
  if (before === null || after === null) return ''
  const ticks = beatsBetween(before, after)
  const d0 = histogramOf(before, 'pixelwire_pixel_delay_seconds')
  const d1 = histogramOf(after, 'pixelwire_pixel_delay_seconds')
  const le = (q: number) => `<= ${fmtMs(1000 * bucketQuantile(d0, d1, q))}`
  return `server: ${ticks} beats (mean ${fmtMs(1000 * seconds / Math.max(1, ticks))}), arrival to frames written to every slot p50 ${le(0.5)}, p99 ${le(0.99)}`
}

/** Beats that ran between two /metrics scrapes of one node. */
const beatsBetween = (before: string, after: string) =>
  histogramOf(after, 'pixelwire_tick_duration_seconds').count - histogramOf(before, 'pixelwire_tick_duration_seconds').count

interface TrafficRow {
  server: string
  receivers: number
  sentPerSec: number
  deliveredPerSec: number
  deliveredPct: number
  p50: number
  p99: number
  max: number
  cpuPct: number
  rssStart: number
  rssPeak: number
  keptUp: boolean
  notes: string
  /** the painting window (s) */
  seconds: number
  /** each measured process's CPU over the painting window (% of one core); `server`: counted in cpuPct */
  procCpu: Array<{ name: string, pct: number, server: boolean }>
  /** beats each pixelwire node ran in the painting window (by node name; the nodes whose /metrics were read) */
  beats: Record<string, number>
  /** what the deployment's own window measurement returned (the cluster's Redis round trips) */
  window?: unknown
}

interface TrafficOpts { receivers: number, rate: number, seconds: number, stroke?: number, slowEvery?: number, env?: Record<string, string>, label?: string, burner?: boolean }

/** A measured process: its name in the notes, its pid. */
interface Measured { name: string, pid: number }

/**
 * The server side of a traffic run: where the clients connect and which
 * processes are measured. One server: one port, one process. A cluster:
 * a port per node (receivers and painters split evenly over them), every
 * node's process, and Redis beside them.
 */
interface Deployment {
  ports: number[]
  /** the server's processes: each one's CPU is reported; the row's server CPU and RSS are their sum */
  procs: Measured[]
  /** processes beside the server (Redis): their CPU is reported, not counted as the server's */
  aside: Measured[]
  /** pixelwire nodes whose /metrics are read before and after the window (beats, delay) */
  metrics: Array<{ name: string, port: number }>
  /** a measurement of the deployment's own over the painting window (Redis round trips): its result is row.window */
  window?: { begin: () => Promise<void>, end: () => Promise<unknown> }
  /** a note about the deployment, taken once the clients are connected (how the connections spread) */
  spread?: () => string
  stop: () => Promise<void>
}

/**
 * N receivers (JWT viewers), P painters (admin tokens: exempt from pixel
 * rate limits) sending `rate` pixels/s in total for `seconds`. Delivered =
 * pixels counted by the receivers that read (slow ones excluded); latency
 * from the pixel's send to its receipt, on a sample of receivers.
 */
async function traffic (t: TargetName, o: TrafficOpts): Promise<TrafficRow> {
  const label = o.label ?? LABEL[t]
  const burning = o.burner ?? burnerFlag
  console.log(`  ${label}: ${o.receivers} receivers, ${o.rate} px/s for ${o.seconds} s${o.slowEvery !== undefined ? `, every ${o.slowEvery}th stops reading` : ''}${burning ? ', CPU burner on' : ''}`)
  const srv = await startTarget(t, o.env)
  const deployment: Deployment = {
    ports: [srv.port],
    procs: [{ name: 'server', pid: srv.pid }],
    aside: [],
    metrics: t === 'pixelwire' ? [{ name: '', port: srv.port }] : [],
    stop: srv.stop
  }
  return await measureTraffic(t, deployment, o, label, burning)
}

/** The traffic run itself, on a deployment already started (and stopped here at the end). */
async function measureTraffic (t: TargetName, dep: Deployment, o: TrafficOpts, label: string, burning: boolean): Promise<TrafficRow> {
  const pids = dep.procs.map((p) => p.pid)
  const sampleEvery = Math.max(1, Math.floor(o.receivers / 200)) // ~200 timed receivers
  const rx = await connectReceivers(t, dep.ports, o.receivers, { sampleEvery, slowEvery: o.slowEvery ?? 0 })
  const painter = new Worker()
  // the painters split over the nodes like the receivers; paint() sends round-robin over them
  for (const [i, [from, count]] of splitSet(PAINTERS, dep.ports.length).entries()) {
    await painter.call({ type: 'connect', set: clientSet(t, dep.ports[i], 'p', from, count, 'admin'), concurrency: count }, 'ready', 60_000)
  }
  const slow = o.slowEvery !== undefined ? rx.sets.reduce((a, s) => a + Math.ceil(s.count / o.slowEvery!), 0) : 0
  const reading = rx.connected - slow
  await sleep(2000) // joins settle (pixelwire's presence, socket.io's handshakes)
  const spread = dep.spread?.() ?? ''
  const rss = rssPeak(pids)
  const rssStart = rssOf(pids)
  await Promise.all(rx.workers.map((w) => w.call({ type: 'loopReset' }, 'loopReset', 30_000)))
  // The burner spins from before the painting window to its end (lib/burner.ts).
  const burner = burning ? await startBurner(pids[0], burnerOpts, (c) => started.add(c)) : null
  // Scraped before the CPU counters are read: rendering /metrics is the
  // bench's own request, not delivery work, and (d) has none to render.
  const metrics0 = await Promise.all(dep.metrics.map((m) => scrapeMetrics(t, m.port)))
  await dep.window?.begin()
  const bcpu0 = burner?.cpu() ?? 0
  const measured = [...dep.procs, ...dep.aside]
  const procCpu = () => measured.map((p) => sampleProc(p.pid)?.cpu ?? NaN)
  const pcpu0 = procCpu()
  const clientsCpu = () => [...rx.workers, painter].reduce((a, w) => a + (sampleProc(w.child.pid ?? 0)?.cpu ?? 0), 0)
  const ccpu0 = clientsCpu()
  const mcpu0 = machineCpu()
  const tcp0 = tcpCounters()
  const t0 = performance.now()
  const painted = await painter.call<{ sent: number, rejected: number }>({ type: 'paint', rate: o.rate, durationMs: o.seconds * 1000, stroke: o.stroke ?? 1, width: W, height: H }, 'painted', o.seconds * 1000 + 30_000)
  const tcp = tcpDelta(tcp0)
  const t1 = performance.now()
  const pcpu1 = procCpu()
  const ccpu1 = clientsCpu()
  const mcpu1 = machineCpu()
  const bcpu1 = burner?.cpu() ?? 0
  const windowResult = await dep.window?.end()
  await burner?.stop()
  const seconds = (t1 - t0) / 1000
  const metrics1 = await Promise.all(dep.metrics.map((m) => scrapeMetrics(t, m.port)))
  const inServer = dep.metrics.map((m, i) => {
    const side = serverSide(metrics0[i], metrics1[i], seconds)
    return side !== '' && m.name !== '' ? `${m.name} ${side}` : side
  }).filter(Boolean).join('; ')
  const beats: Record<string, number> = {}
  dep.metrics.forEach((m, i) => { if (metrics0[i] !== null && metrics1[i] !== null) beats[m.name] = beatsBetween(metrics0[i]!, metrics1[i]!) })
  const mark = async () => (await Promise.all(rx.workers.map((w) => w.call<{ received: number }>({ type: 'mark' }, 'marked', 30_000)))).reduce((a, m) => a + m.received, 0)
  const atEnd = await mark()
  const expected = (painted.sent - painted.rejected) * reading
  // Kept up: (nearly) everything delivered within 2 s of the last send.
  let got = atEnd
  const drainUntil = performance.now() + 2000
  while (got < expected && performance.now() < drainUntil) { await sleep(250); got = await mark() }
  const keptUp = got >= 0.99 * expected
  if (!keptUp) { await sleep(3000); got = await mark() } // what a further 3 s still brings (not "kept up")
  const reports = await Promise.all(rx.workers.map((w) => w.call<Report>({ type: 'report' }, 'report', 30_000)))
  const peak = rss.stop()
  const hist = new Histogram()
  const closes: Record<string, number> = {}
  for (const r of reports) {
    hist.merge(r.hist)
    for (const [k, v] of Object.entries(r.closes)) closes[k] = (closes[k] ?? 0) + v
  }
  await Promise.all([...rx.workers, painter].map((w) => w.exit()))
  await dep.stop()
  const pct = (i: number) => 100 * (pcpu1[i] - pcpu0[i]) / seconds
  const cpuRows = measured.map((p, i) => ({ name: p.name, pct: pct(i), server: i < dep.procs.length }))
  const notes = [
    rx.connected < o.receivers ? `${rx.connected}/${o.receivers} connected (${rx.errors.slice(0, 2).join('; ')})` : '',
    painted.rejected > 0 ? `${painted.rejected} px rejected` : '',
    Object.keys(closes).length > 0 ? `closes ${JSON.stringify(closes)}` : '',
    slow > 0 ? `${slow} slow receivers excluded` : '',
    spread,
    inServer,
    measured.length > 1 ? `CPU per process: ${cpuRows.map((c) => `${c.name} ${c.pct.toFixed(0)}%`).join(', ')}` : '',
    `receiving processes' event-loop delay p99 ${fmtMs(Math.max(...reports.map((r) => r.loop.p99)))} (worst process), max ${fmtMs(Math.max(...reports.map((r) => r.loop.max)))}`,
    `CPU while painting: client processes ${(100 * (ccpu1 - ccpu0) / seconds).toFixed(0)}% of a core, whole machine ${(100 * (mcpu1.busy - mcpu0.busy) / (mcpu1.total - mcpu0.total)).toFixed(0)}% busy (${cpus().length} cores)`,
    `TCP while painting (whole machine): ${tcp}`,
    burner !== null ? `CPU burner${burnerOpts.core !== null ? `, pinned with the server to core ${burnerOpts.core}` : ' (nothing pinned)'}, nice ${burnerOpts.nice}: it got ${(100 * (bcpu1 - bcpu0) / seconds).toFixed(0)}% of a core` : ''
  ].filter(Boolean).join('; ')
  const row: TrafficRow = {
    server: label,
    receivers: rx.connected,
    sentPerSec: painted.sent / seconds,
    deliveredPerSec: atEnd / seconds,
    deliveredPct: expected > 0 ? 100 * got / expected : 0,
    p50: hist.quantile(0.5),
    p99: hist.quantile(0.99),
    max: hist.max,
    cpuPct: cpuRows.filter((c) => c.server).reduce((a, c) => a + c.pct, 0),
    rssStart,
    rssPeak: peak,
    keptUp,
    notes,
    seconds,
    procCpu: cpuRows,
    beats,
    window: windowResult
  }
  console.log(`    delivered ${fmtN(row.deliveredPerSec)}/s (${row.deliveredPct.toFixed(2)}%), p50 ${fmtMs(row.p50)} p99 ${fmtMs(row.p99)} max ${fmtMs(row.max)}, cpu ${row.cpuPct.toFixed(0)}% (${nsPerDelivery(row).toFixed(1)} ns per delivered pixel), rss ${row.rssStart.toFixed(0)}→${row.rssPeak.toFixed(0)} MiB${notes !== '' ? `; ${notes}` : ''}`)
  return row
}

// ---------------------------------------------------------------- cluster

/** The pids of the live children of `ppid` (from /proc: the workers of a WORKERS=N primary). */
function childrenOf (ppid: number): number[] {
  const out: number[] = []
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue
    try {
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8')
      if (Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === ppid) out.push(Number(d))
    } catch {} // gone meanwhile
  }
  return out
}

/** Which worker (src/workers.ts sets PIXELWIRE_WORKER=i in its environment) a child process is. */
function workerIndex (pid: number): number {
  try {
    const env = readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0')
    return Number(env.find((e) => e.startsWith('PIXELWIRE_WORKER='))?.split('=')[1] ?? NaN)
  } catch {
    return NaN
  }
}

/** Established connections on `port` held by pid (its socket fds in /proc/net/tcp). */
function connectionsOn (pid: number, port: number): number {
  const inodes = socketInodes(pid)
  return tcpTable().filter((r) => r.state === '01' && r.localPort === port && inodes.has(r.inode)).length
}

/**
 * Open viewer connections to `port` until every node in `ids` has served
 * one (its hello names it): the WORKERS=N primary hands connections only to
 * workers already listening, so before this the load would land on fewer.
 */
async function untilServing (port: number, ids: readonly string[], ms: number): Promise<void> {
  const sign = createSigner({ key: secret, algorithm: 'HS256', expiresIn: 60_000 })
  const seen = new Set<string>()
  const deadline = Date.now() + ms
  for (let i = 0; !ids.every((id) => seen.has(id)); i++) {
    if (Date.now() > deadline) throw new Error(`not every worker served within ${ms} ms: saw ${[...seen].join(', ') || 'none'} of ${ids.join(', ')}`)
    const node = await new Promise<string | null>((resolve) => {
      const ws = new WebSocket(`ws://127.0.0.1:${port}/ws`, { headers: { authorization: `Bearer ${sign({ sub: `probe-${i}`, role: 'viewer' })}` }, handshakeTimeout: 5000 })
      const done = (v: string | null) => { ws.terminate(); resolve(v) }
      ws.once('message', (d: Buffer, bin: boolean) => {
        try { done(bin ? null : (JSON.parse(d.toString()) as { node?: string }).node ?? null) } catch { done(null) }
      })
      ws.once('error', () => done(null))
    })
    if (node !== null) seen.add(node)
    else await sleep(200)
  }
}

/**
 * A redis-server of the bench's own and pixelwire joined through it: `nodes`
 * node processes (node-1..N, each its own port and DATA_DIR), or one server
 * with WORKERS=`workers` (NODE_ID bench; its workers are bench-w1..N). Redis
 * is measured beside them; the painting window counts their round trips.
 */
async function startCluster (shape: { nodes: number } | { workers: number }): Promise<Deployment> {
  const redis = await startRedis((c, dir) => { started.add(c); dataDirs.push(dir) })
  const servers: Running[] = []
  const stop = async () => {
    for (const s of servers) await s.stop()
    await redis.stop()
  }
  try {
    const dep: Deployment = { ports: [], procs: [], aside: [{ name: 'redis', pid: redis.pid }], metrics: [], stop }
    let ids: string[]
    if ('nodes' in shape) {
      ids = Array.from({ length: shape.nodes }, (_v, i) => `node-${i + 1}`)
      for (const id of ids) {
        const s = await startTarget('pixelwire', { REDIS_URL: redis.url, NODE_ID: id })
        servers.push(s)
        dep.ports.push(s.port)
        dep.procs.push({ name: id, pid: s.pid })
        dep.metrics.push({ name: id, port: s.port })
      }
    } else {
      const n = shape.workers
      const s = await startTarget('pixelwire', { REDIS_URL: redis.url, NODE_ID: 'bench', WORKERS: String(n) })
      servers.push(s)
      dep.ports.push(s.port)
      if (n === 1) {
        ids = ['bench']
        dep.procs.push({ name: 'server', pid: s.pid })
        dep.metrics.push({ name: 'bench', port: s.port })
      } else {
        ids = Array.from({ length: n }, (_v, i) => `bench-w${i + 1}`)
        await untilServing(s.port, ids, 60_000)
        const workers = childrenOf(s.pid).map((pid) => ({ pid, i: workerIndex(pid) })).filter((w) => Number.isInteger(w.i)).sort((a, b) => a.i - b.i)
        if (workers.length !== n) throw new Error(`WORKERS=${n}: found ${workers.length} worker processes`)
        dep.procs.push({ name: 'primary', pid: s.pid }, ...workers.map((w) => ({ name: `worker ${w.i}`, pid: w.pid })))
        // /metrics on the shared port reaches one worker or the other: no beats per worker here
        dep.spread = () => `connections per worker: ${workers.map((w) => connectionsOn(w.pid, s.port)).join(' / ')}`
      }
    }
    dep.window = { begin: async () => await tripsBegin(redis.client), end: async () => await tripsEnd(redis.client, ids) }
    return dep
  } catch (err) {
    await stop()
    throw err
  }
}

async function clusterTraffic (shape: { nodes: number } | { workers: number }, o: TrafficOpts & { label: string }): Promise<TrafficRow> {
  console.log(`  ${o.label}: ${o.receivers} receivers, ${o.rate} px/s for ${o.seconds} s`)
  return await measureTraffic('pixelwire', await startCluster(shape), o, o.label, false)
}

interface IdleRow { server: string, connections: number, held: number, rssBefore: number, rssAfter: number, perConnKiB: number, errors: string }

async function idle (t: TargetName, n: number): Promise<IdleRow> {
  console.log(`  ${LABEL[t]}: ${n} idle connections`)
  const srv = await startTarget(t)
  await sleep(1500)
  const before = sampleProc(srv.pid)?.rss ?? 0
  const rx = await connectReceivers(t, srv.port, n, {})
  await sleep(5000) // hold them; let the server settle
  const after = sampleProc(srv.pid)?.rss ?? 0
  const reports = await Promise.all(rx.workers.map((w) => w.call<Report>({ type: 'report' }, 'report', 30_000)))
  const held = reports.reduce((a, r) => a + r.open, 0)
  const closes = reports.flatMap((r) => Object.entries(r.closes).map(([k, v]) => `${k}×${v}`))
  await Promise.all(rx.workers.map((w) => w.exit()))
  await srv.stop()
  const row = { server: LABEL[t], connections: rx.connected, held, rssBefore: before, rssAfter: after, perConnKiB: (after - before) * 1024 / Math.max(1, rx.connected), errors: [...rx.errors.slice(0, 2), ...closes].join('; ') }
  console.log(`    ${held}/${n} held, RSS ${before.toFixed(0)}→${after.toFixed(0)} MiB, ${row.perConnKiB.toFixed(1)} KiB per connection${row.errors !== '' ? `; ${row.errors}` : ''}`)
  return row
}

interface JoinRow { server: string, clients: number, got: number, p50: number, p99: number, max: number, cpuSec: number, notes: string }

async function joinStorm (t: TargetName, o: typeof S.join): Promise<JoinRow> {
  console.log(`  ${LABEL[t]}: ${o.clients} clients join within ${o.seconds} s`)
  const srv = await startTarget(t)
  let notes = ''
  if (t === 'pixelwire') {
    // paint the canvas first: 100k pixels in strokes, committed before the storm
    const p = new Worker()
    await p.call({ type: 'connect', set: clientSet(t, srv.port, 'p', 0, 1, 'admin'), concurrency: 1 }, 'ready', 30_000)
    const r = await p.call<{ sent: number }>({ type: 'paint', rate: o.painted, durationMs: 1000, stroke: 1000, width: W, height: H }, 'painted', 30_000)
    await sleep(1000)
    await p.exit()
    notes = `canvas ${W}x${H} with ${r.sent} painted pixels`
  } else {
    notes = 'sends the raw canvas (3 MiB) to each joiner'
  }
  const joiners = [new Worker(), new Worker()]
  await Promise.all(joiners.map((w) => w.up))
  const cpu0 = sampleProc(srv.pid)?.cpu ?? 0
  const per = Math.ceil(o.clients / joiners.length)
  const results = await Promise.all(joiners.map((w, i) => w.call<{ got: number, failed: number, hist: Histogram['toJSON'] extends () => infer R ? R : never, errors: string[] }>({
    type: 'join',
    set: clientSet(t, srv.port, `j${i}`, 0, Math.min(per, o.clients - i * per), 'viewer'),
    perSec: per / o.seconds,
    timeoutMs: 20_000
  }, 'joined', 60_000)))
  const cpu1 = sampleProc(srv.pid)?.cpu ?? cpu0
  const hist = new Histogram()
  for (const r of results) hist.merge(r.hist)
  const errs = [...new Set(results.flatMap((r) => r.errors))].slice(0, 2)
  await Promise.all(joiners.map((w) => w.exit()))
  await srv.stop()
  const row = { server: LABEL[t], clients: o.clients, got: results.reduce((a, r) => a + r.got, 0), p50: hist.quantile(0.5), p99: hist.quantile(0.99), max: hist.max, cpuSec: cpu1 - cpu0, notes: [notes, ...errs].join('; ') }
  console.log(`    ${row.got}/${row.clients} got their snapshot, join p50 ${fmtMs(row.p50)} p99 ${fmtMs(row.p99)} max ${fmtMs(row.max)}, server CPU ${row.cpuSec.toFixed(2)} s`)
  return row
}

/** Committed pixels/s: painters flood strokes; canvases.seq (REST) before and after. */
async function persistence (o: typeof S.persistence): Promise<{ row: TrafficRow, committedPerSec: number }> {
  let committedPerSec = NaN
  const seqOf = async (port: number) => {
    const r = await fetch(`http://127.0.0.1:${port}/api/canvases/main`)
    return ((await r.json()) as { seq: number }).seq
  }
  // traffic() owns the server's lifetime: read seq through a hook on its env-less start
  const srv = await startTarget('pixelwire')
  const rx = await connectReceivers('pixelwire', srv.port, 20, { sampleEvery: 1 })
  const painter = new Worker()
  await painter.call({ type: 'connect', set: clientSet('pixelwire', srv.port, 'p', 0, 4, 'admin'), concurrency: 4 }, 'ready', 30_000)
  const seq0 = await seqOf(srv.port).catch(() => NaN)
  const cpu0 = sampleProc(srv.pid)?.cpu ?? 0
  const rss = rssPeak(srv.pid)
  const rssStart = sampleProc(srv.pid)?.rss ?? 0
  const t0 = performance.now()
  const painted = await painter.call<{ sent: number, rejected: number }>({ type: 'paint', rate: o.rate, durationMs: o.seconds * 1000, stroke: 500, width: W, height: H }, 'painted', o.seconds * 1000 + 30_000)
  const t1 = performance.now()
  const cpu1 = sampleProc(srv.pid)?.cpu ?? 0
  const seq1 = await seqOf(srv.port).catch(() => NaN)
  committedPerSec = (seq1 - seq0) / ((t1 - t0) / 1000)
  await sleep(1500)
  const reports = await Promise.all(rx.workers.map((w) => w.call<Report>({ type: 'report' }, 'report', 30_000)))
  const hist = new Histogram()
  for (const r of reports) hist.merge(r.hist)
  const got = reports.reduce((a, r) => a + r.received, 0)
  await Promise.all([...rx.workers, painter].map((w) => w.exit()))
  const peak = rss.stop()
  await srv.stop()
  const expected = (painted.sent - painted.rejected) * rx.connected
  const row: TrafficRow = {
    server: LABEL.pixelwire,
    receivers: rx.connected,
    sentPerSec: painted.sent / ((t1 - t0) / 1000),
    deliveredPerSec: got / ((t1 - t0) / 1000),
    deliveredPct: 100 * got / expected,
    p50: hist.quantile(0.5),
    p99: hist.quantile(0.99),
    max: hist.max,
    cpuPct: 100 * (cpu1 - cpu0) / ((t1 - t0) / 1000),
    rssStart,
    rssPeak: peak,
    keptUp: got >= 0.99 * expected,
    notes: painted.rejected > 0 ? `${painted.rejected} px rejected` : '',
    seconds: (t1 - t0) / 1000,
    procCpu: [{ name: 'server', pct: 100 * (cpu1 - cpu0) / ((t1 - t0) / 1000), server: true }],
    beats: {}
  }
  console.log(`    sent ${fmtN(row.sentPerSec)} px/s, committed ${fmtN(committedPerSec)} px/s, p99 ${fmtMs(row.p99)}, cpu ${row.cpuPct.toFixed(0)}%`)
  return { row, committedPerSec }
}

// ---------------------------------------------------------------- output

const fmtN = (v: number) => !Number.isFinite(v) ? '-' : v >= 1e6 ? `${(v / 1e6).toFixed(2)}M` : v >= 1e4 ? `${(v / 1e3).toFixed(1)}k` : v.toFixed(0)
const fmtMs = (v: number) => !Number.isFinite(v) ? '-' : v >= 1000 ? `${(v / 1000).toFixed(2)} s` : `${v.toFixed(v < 10 ? 1 : 0)} ms`
const ratio = (a: number, b: number) => !Number.isFinite(a) || !Number.isFinite(b) || b === 0 ? '-' : a / b >= 100 ? `${(a / b).toFixed(0)}x` : `${(a / b).toFixed(2)}x`

function trafficTable (rows: TrafficRow[]): string {
  const pw = rows[0]
  const out = [
    '| server | receivers | sent px/s | delivered px/s | delivered | p50 | p99 | max | kept up | server CPU | RSS start→peak | pixelwire delivered/s ÷ this | this p99 ÷ pixelwire p99 |',
    '|---|---:|---:|---:|---:|---:|---:|---:|:---:|---:|---:|---:|---:|'
  ]
  for (const r of rows) {
    out.push(`| ${r.server} | ${r.receivers} | ${fmtN(r.sentPerSec)} | ${fmtN(r.deliveredPerSec)} | ${r.deliveredPct.toFixed(2)}% | ${fmtMs(r.p50)} | ${fmtMs(r.p99)} | ${fmtMs(r.max)} | ${r.keptUp ? 'yes' : 'no'} | ${r.cpuPct.toFixed(0)}% | ${r.rssStart.toFixed(0)}→${r.rssPeak.toFixed(0)} MiB | ${r === pw ? '' : ratio(pw.deliveredPerSec, r.deliveredPerSec)} | ${r === pw ? '' : ratio(r.p99, pw.p99)} |`)
  }
  const notes = rows.filter((r) => r.notes !== '').map((r) => `- ${r.server}: ${r.notes}`)
  return [...out, ...(notes.length > 0 ? ['', ...notes] : [])].join('\n')
}

const checks: string[] = []
const check = (scenario: string, what: string, ok: boolean, got: string) => {
  const line = `| ${scenario} | ${what} | ${got} | ${ok ? 'met' : '**missed**'} |`
  checks.push(line)
  console.log(`  target ${ok ? 'met   ' : 'MISSED'} ${scenario}: ${what} (${got})`)
}

/** Server CPU time per delivered pixel (ns): CPU over the painting window ÷ the pixels delivered in it. */
const nsPerDelivery = (r: TrafficRow) => 1e9 * (r.cpuPct / 100) / r.deliveredPerSec

/** Issue 11's targets, as limits on pixelwire ÷ (d): at least `delivered`, at most the others. */
interface PeerLimits { delivered?: number, p99?: number, max?: number, cpu?: number }

/** The measures pixelwire and (d) are compared on (issue 11), each as pixelwire ÷ (d). */
const PEER_MEASURES: Array<{ key: keyof PeerLimits, name: string, get: (r: TrafficRow) => number, fmt: (v: number) => string, atLeast?: boolean }> = [
  { key: 'delivered', name: 'delivered px/s', get: (r) => r.deliveredPerSec, fmt: fmtN, atLeast: true },
  { key: 'p99', name: 'latency p99', get: (r) => r.p99, fmt: fmtMs },
  { key: 'max', name: 'latency max', get: (r) => r.max, fmt: fmtMs },
  { key: 'cpu', name: 'server CPU per delivered pixel', get: nsPerDelivery, fmt: (v) => Number.isFinite(v) ? `${v.toFixed(1)} ns` : '-' }
]

/**
 * pixelwire against baseline (d) from the same run: every measure as a
 * ratio, and the issue-11 targets given in `limits` checked (they also go
 * to the Targets table). Empty when either row is missing.
 */
function peerTable (scenario: string, rows: TrafficRow[], limits: PeerLimits): string {
  const pw = rows.find((r) => r.server === LABEL.pixelwire)
  const d = rows.find((r) => r.server === LABEL['ws-batched'])
  if (pw === undefined || d === undefined) return ''
  const measures = PEER_MEASURES
  const out = [
    'pixelwire against baseline (d), same run (issue 11):',
    '',
    '| measure | pixelwire | (d) | pixelwire ÷ (d) | target | |',
    '|---|---:|---:|---:|---|---|'
  ]
  for (const m of measures) {
    const a = m.get(pw)
    const b = m.get(d)
    const r = a / b
    const shown = Number.isFinite(r) ? r.toFixed(3) : '-'
    const limit = limits[m.key]
    let target = ''
    let verdict = ''
    if (limit !== undefined) {
      const ok = meets(r, limit, m.atLeast === true)
      target = `${m.atLeast === true ? '>=' : '<='} ${limit.toFixed(2)}x`
      verdict = ok ? 'met' : '**missed**'
      check(scenario, `${m.name} ${target} (d)`, ok, `${shown}x (${m.fmt(a)} vs ${m.fmt(b)})`)
    }
    out.push(`| ${m.name} | ${m.fmt(a)} | ${m.fmt(b)} | ${shown} | ${target} | ${verdict} |`)
  }
  return out.join('\n')
}

/** One pixelwire/(d) pair of a --repeat run: both rows and which server ran first. */
interface Pair { pw: TrafficRow, d: TrafficRow, first: 'pixelwire' | 'ws-batched' }

/**
 * pixelwire against (d) over the pairs of a --repeat run: each pair's
 * figures and ratio per measure, then per measure the ratios of all pairs
 * with their median, min and max. The issue-11 targets in `limits` are
 * judged on the median ratio (and go to the Targets table, saying so).
 */
function repeatTable (scenario: string, pairs: Pair[], limits: PeerLimits): string {
  const f3 = (v: number) => Number.isFinite(v) ? v.toFixed(3) : '-'
  const out = [
    `pixelwire against baseline (d), ${pairs.length} pairs (issue 11): pixelwire ran first in the odd pairs, (d) in the even ones, each run on a fresh server. ` +
      'Every target is judged on the median of the pairs\' ratios: one pair is within the run-to-run spread of the same build.',
    '',
    `| pair | ran first | ${PEER_MEASURES.map((m) => `${m.name}: pixelwire vs (d) = ÷`).join(' | ')} |`,
    `|---:|---|${PEER_MEASURES.map(() => '---:').join('|')}|`
  ]
  pairs.forEach((p, i) => {
    const cells = PEER_MEASURES.map((m) => `${m.fmt(m.get(p.pw))} vs ${m.fmt(m.get(p.d))} = ${f3(m.get(p.pw) / m.get(p.d))}`)
    out.push(`| ${i + 1} | ${p.first === 'pixelwire' ? 'pixelwire' : '(d)'} | ${cells.join(' | ')} |`)
  })
  out.push('',
    `| measure | pixelwire ÷ (d), pairs 1 to ${pairs.length} | median | min | max | target (on the median) | |`,
    '|---|---|---:|---:|---:|---|---|')
  for (const m of PEER_MEASURES) {
    const s = summarize(pairs.map((p) => m.get(p.pw) / m.get(p.d)))
    const limit = limits[m.key]
    let target = ''
    let verdict = ''
    if (limit !== undefined) {
      const ok = meetsOnMedian(s, limit, m.atLeast === true)
      target = `${m.atLeast === true ? '>=' : '<='} ${limit.toFixed(2)}x`
      verdict = ok ? 'met' : '**missed**'
      check(scenario, `${m.name} ${target} (d)`, ok, describe(s))
    }
    out.push(`| ${m.name} | ${listRatios(s)} | ${f3(s.median)} | ${f3(s.min)} | ${f3(s.max)} | ${target} | ${verdict} |`)
  }
  return out.join('\n')
}

const fmtNs = (v: number) => Number.isFinite(v) ? `${v.toFixed(1)} ns` : '-'
/** CPU (% of a core) per delivered update (one pixel to one receiver), in ns. */
const nsPer = (pct: number, r: TrafficRow) => 1e9 * (pct / 100) / r.deliveredPerSec

/** The cluster section's tables after the traffic table: cluster ÷ one node, CPU per process, Redis round trips, WORKERS. */
function clusterTables (single: TrafficRow, two: TrafficRow, low: TrafficRow, workers: TrafficRow[], lowLoad: { receivers: number, rate: number }): string {
  const r = (a: number, b: number) => Number.isFinite(a / b) ? (a / b).toFixed(3) : '-'
  const out = [
    'Two nodes + Redis against one node, same run (issue 12):',
    '',
    '| measure | one node | 2 nodes + Redis | 2 nodes ÷ one | target |',
    '|---|---:|---:|---:|---|',
    `| delivered | ${single.deliveredPct.toFixed(3)}% | ${two.deliveredPct.toFixed(3)}% | | every pixel to every receiver |`,
    `| latency p50 | ${fmtMs(single.p50)} | ${fmtMs(two.p50)} | ${r(two.p50, single.p50)} | |`,
    `| latency p99 | ${fmtMs(single.p99)} | ${fmtMs(two.p99)} | ${r(two.p99, single.p99)} | <= 1.5x |`,
    `| latency max | ${fmtMs(single.max)} | ${fmtMs(two.max)} | ${r(two.max, single.max)} | |`,
    `| pixelwire CPU per delivered update | ${fmtNs(nsPerDelivery(single))} | ${fmtNs(nsPerDelivery(two))} | ${r(nsPerDelivery(two), nsPerDelivery(single))} | |`,
    '',
    'CPU of each process over the painting window (100% = one core; from /proc/<pid>/stat, Redis\'s threads included) and per delivered update (a pixel reaching one receiver):',
    '',
    '| row | process | CPU | per delivered update |',
    '|---|---|---:|---:|'
  ]
  for (const row of [single, two, low, ...workers]) {
    for (const p of row.procCpu) out.push(`| ${row.server} | ${p.name} | ${p.pct.toFixed(1)}% | ${fmtNs(nsPer(p.pct, row))} |`)
    if (row.procCpu.filter((p) => p.server).length > 1) out.push(`| ${row.server} | all pixelwire processes | ${row.cpuPct.toFixed(1)}% | ${fmtNs(nsPerDelivery(row))} |`)
  }
  out.push('',
    'Redis round trips over the painting window, counted by Redis (its slow log records every command of the window; a command a Lua script runs inside one is not a round trip and is not counted; a blocking XREAD counts once), ' +
    'per node (its connections are named `pixelwire:<node>:<role>`), per beat of that node (beats from its /metrics) and per second. ' +
    'Per beat a node appends its batch (one EVALSHA per canvas with pixels) and reads the order (XREAD, returning as soon as any node appended); ' +
    'the rest is per interval, not per pixel or client: heartbeat, ping, lag, budget settle, presence on the bus.',
    '',
    '| row | node | beats | round trips | per beat | per second | by command | by connection |',
    '|---|---|---:|---:|---:|---:|---|---|')
  const fmtCounts = (c: Record<string, number>) => Object.entries(c).sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k} ${v}`).join(', ')
  for (const row of [two, low, ...workers]) {
    const t = row.window as RoundTrips | undefined
    if (t === undefined) continue
    for (const [node, n] of Object.entries(t.nodes)) {
      const beats = row.beats[node]
      out.push(`| ${row.server} | ${node} | ${beats ?? '-'} | ${n.total} | ${beats !== undefined && beats > 0 ? (n.total / beats).toFixed(2) : '-'} | ${(n.total / row.seconds).toFixed(1)} | ${fmtCounts(n.byCommand)} | ${fmtCounts(n.byConnection)} |`)
    }
    const odd = [t.complete ? '' : 'the slow log filled up: counts are low', t.other > 0 ? `${t.other} round trips of other connections` : ''].filter(Boolean)
    if (odd.length > 0) out.push(`| ${row.server} | ${odd.join('; ')} | | | | | | |`)
  }
  const beatsOf = (row: TrafficRow) => Object.values(row.beats).reduce((a, b) => a + b, 0)
  const tripsOf = (row: TrafficRow) => Object.values((row.window as RoundTrips | undefined)?.nodes ?? {}).reduce((a, n) => a + n.total, 0)
  /** Round trips of every node of a row whose command matches `re`. */
  const tripsLike = (row: TrafficRow, re: RegExp) => Object.values((row.window as RoundTrips | undefined)?.nodes ?? {})
    .reduce((a, n) => a + Object.entries(n.byCommand).filter(([c]) => re.test(c)).reduce((b, [, v]) => b + v, 0), 0)
  const APPEND = /^evalsha? \S*canvas:\{[^}]*\}:meta$/ // the append script names the canvas meta first (src/broker/redis-order.ts)
  const split = (row: TrafficRow) => {
    const beats = beatsOf(row)
    const appends = tripsLike(row, APPEND)
    const reads = tripsLike(row, /^xread$/)
    return `${(tripsOf(row) / beats).toFixed(2)} (appends ${(appends / beats).toFixed(2)}, XREAD ${(reads / beats).toFixed(2)}, the rest ${((tripsOf(row) - appends - reads) / beats).toFixed(2)})`
  }
  out.push('', `Per beat per node, all nodes together: ${split(two)} at ${two.receivers} receivers × ${fmtN(two.sentPerSec)} px/s; ` +
    `${split(low)} at ${low.receivers} receivers × ${fmtN(low.sentPerSec)} px/s (the load ÷ ${(two.sentPerSec / low.sentPerSec).toFixed(1)} in pixels, ÷ ${(two.receivers / Math.max(1, low.receivers)).toFixed(1)} in clients; ${lowLoad.receivers} × ${lowLoad.rate} asked). ` +
    'The bound per beat per node: one append per canvas with pixels and at most one XREAD per node that appended, whatever the pixels or clients; under load fewer (more entries per read, an append in flight takes the next beat\'s pixels too).')
  // WORKERS: the issue asks for CPU per delivered update per process, reported, not promised.
  out.push('',
    'WORKERS=N (one port, Node\'s cluster module; each worker a cluster node through Redis): CPU per delivered update, per process and summed. ' +
    'This machine has as many cores as workers at 2 and the load generator needs one, so this reports, it does not promise, a speed-up.',
    '',
    '| WORKERS | delivered | p99 | pixelwire processes: CPU (sum) | per delivered update (sum) | per process | Redis CPU | Redis per delivered update | notes |',
    '|---|---:|---:|---:|---:|---|---:|---:|---|')
  for (const row of workers) {
    const per = row.procCpu.filter((p) => p.server).map((p) => `${p.name} ${p.pct.toFixed(1)}% (${fmtNs(nsPer(p.pct, row))})`).join(', ')
    const redis = row.procCpu.find((p) => !p.server)
    const spread = /connections per worker: [^;]*/.exec(row.notes)?.[0] ?? ''
    out.push(`| ${row.server} | ${row.deliveredPct.toFixed(3)}% | ${fmtMs(row.p99)} | ${row.cpuPct.toFixed(1)}% | ${fmtNs(nsPerDelivery(row))} | ${per} | ${redis !== undefined ? `${redis.pct.toFixed(1)}%` : '-'} | ${redis !== undefined ? fmtNs(nsPer(redis.pct, row)) : '-'} | ${spread} |`)
  }
  out.push(`| (one node, no Redis, above) | ${single.deliveredPct.toFixed(3)}% | ${fmtMs(single.p99)} | ${single.cpuPct.toFixed(1)}% | ${fmtNs(nsPerDelivery(single))} | | | | |`)
  return out.join('\n')
}

// ---------------------------------------------------------------- run

async function main (): Promise<void> {
  if (!flag('no-build')) execFileSync('npm', ['run', '-s', 'build'], { stdio: 'inherit', timeout: 180_000 })
  const began = new Date()
  const machine = `${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, Linux ${release()}, Node ${process.version}, load average at start ${loadavg().map((l) => l.toFixed(2)).join(' ')}`
  console.log(`bench ${quick ? '(quick) ' : ''}${chosen.join(', ')} against ${servers.join(', ')}\nmachine: ${machine}`)
  const sections: string[] = []
  const has = (t: TargetName) => servers.includes(t)
  const baselines = TARGETS.filter((t) => t !== 'pixelwire' && has(t))
  // With --cpu-burner every traffic run has the burner: titles and target names say so.
  const burnt = burnerFlag ? ' (CPU burner beside the server)' : ''
  const sc = (name: string) => burnerFlag ? `${name} (CPU burner)` : name
  const withPeer = (table: string) => table === '' ? '' : `\n\n${table}`
  /**
   * The runs of a scenario that compares pixelwire with (d): pixelwire, (d),
   * then `others` once, as always; with --repeat N (and both chosen) N - 1
   * more pixelwire/(d) pairs, alternating which goes first.
   */
  const paired = async (o: TrafficOpts, others: TargetName[]): Promise<{ rows: TrafficRow[], pairs: Pair[] }> => {
    const rows: TrafficRow[] = []
    if (repeat > 1 && has('pixelwire') && has('ws-batched')) console.log(`  pair 1 of ${repeat}: pixelwire first`)
    for (const t of pairOrder<TargetName>(0, 'pixelwire', 'ws-batched').filter(has)) rows.push(await traffic(t, o))
    for (const t of others) rows.push(await traffic(t, o))
    const pw = rows.find((r) => r.server === LABEL.pixelwire)
    const d = rows.find((r) => r.server === LABEL['ws-batched'])
    if (repeat > 1 && (pw === undefined || d === undefined)) console.log(`  --repeat ${repeat}: pixelwire and (d) were not both chosen, so no pairs to repeat`)
    if (repeat === 1 || pw === undefined || d === undefined) return { rows, pairs: [] }
    const pairs: Pair[] = [{ pw, d, first: 'pixelwire' }]
    for (let i = 1; i < repeat; i++) {
      const order = pairOrder<'pixelwire' | 'ws-batched'>(i, 'pixelwire', 'ws-batched')
      console.log(`  pair ${i + 1} of ${repeat}: ${order[0]} first`)
      const got: Partial<Record<TargetName, TrafficRow>> = {}
      for (const t of order) got[t] = await traffic(t, o)
      pairs.push({ pw: got.pixelwire!, d: got['ws-batched']!, first: order[0] })
    }
    return { rows, pairs }
  }
  /** A paired scenario's tables: as always for one pair; with --repeat, every pair's rows and the table of medians. */
  const pairedTables = (scenario: string, r: { rows: TrafficRow[], pairs: Pair[] }, limits: PeerLimits, firstNote = '') => {
    if (r.pairs.length === 0) return `${trafficTable(r.rows)}${withPeer(peerTable(scenario, r.rows, limits))}`
    const n = r.pairs.length
    return [
      `Pair 1 of ${n} (pixelwire first)${firstNote}:`, '', trafficTable(r.rows),
      ...r.pairs.slice(1).flatMap((p, i) => ['', `Pair ${i + 2} of ${n} (${p.first === 'pixelwire' ? 'pixelwire first' : '(d) first; the rows in the usual order'}):`, '', trafficTable([p.pw, p.d])]),
      '', repeatTable(scenario, r.pairs, limits)
    ].join('\n')
  }

  if (chosen.includes('fanout')) {
    const o = S.fanout
    console.log(`\nfan-out: ${o.receivers} receivers, ${o.rate} px/s, ${o.seconds} s`)
    const rows: TrafficRow[] = []
    for (const t of TARGETS.filter(has)) rows.push(await traffic(t, o))
    sections.push(`## fan-out: ${o.receivers} receivers, ${o.rate} pixels/s in, ${o.seconds} s${burnt}\n\n${trafficTable(rows)}${withPeer(peerTable(sc('fan-out'), rows, burnerFlag ? { p99: 1 } : {}))}`)
    const pw = rows.find((r) => r.server === LABEL.pixelwire)
    if (pw !== undefined) {
      check(sc('fan-out'), 'every pixel delivered to every receiver', pw.deliveredPct >= 99.999, `${pw.deliveredPct.toFixed(3)}%`)
      check(sc('fan-out'), 'p99 <= 100 ms (50 ms tick)', pw.p99 <= 100, fmtMs(pw.p99))
    }
  }

  if (chosen.includes('saturation')) {
    const o = S.saturation
    console.log(`\nsaturation: ${o.receivers} receivers, ${o.rate} px/s, ${o.seconds} s`)
    const others = baselines.filter((t) => t !== 'ws-batched')
    const runs = await paired(o, others)
    const rows = runs.rows
    const pw = rows[0]
    const find = (t: TargetName) => rows.find((r) => r.server === LABEL[t])
    if (pw?.server === LABEL.pixelwire) {
      check(sc('saturation'), '>= 99% delivered', pw.deliveredPct >= 99, `${pw.deliveredPct.toFixed(2)}%`)
      check(sc('saturation'), 'p99 <= 350 ms', pw.p99 <= 350, fmtMs(pw.p99))
      const a = find('ws')
      const c = find('sio-batched')
      if (a !== undefined) check(sc('saturation'), 'delivered/s >= 100x baseline (a)', pw.deliveredPerSec >= 100 * a.deliveredPerSec, ratio(pw.deliveredPerSec, a.deliveredPerSec))
      if (c !== undefined) {
        check(sc('saturation'), 'delivered/s >= baseline (c)', pw.deliveredPerSec >= c.deliveredPerSec, ratio(pw.deliveredPerSec, c.deliveredPerSec))
        check(sc('saturation'), 'p99 <= 1/3 of baseline (c)', 3 * pw.p99 <= c.p99, `${fmtMs(pw.p99)} vs ${fmtMs(c.p99)}`)
      }
    }
    // after the checks above, so the Targets table lists them in their old order, then issue 11's
    const firstNote = others.length > 0 ? ', with the other baselines once; the targets not against (d) are judged on these rows' : '; the targets not against (d) are judged on these rows'
    sections.push(`## saturation: ${o.receivers} receivers, ${o.rate} pixels/s in, ${o.seconds} s${burnt}\n\n${pairedTables(sc('saturation'), runs, { delivered: 1, p99: 1, max: 1.2 }, firstNote)}`)
  }

  if (chosen.includes('adaptive') && has('pixelwire')) {
    // The saturation load, with the adaptive tick (slots) and with a fixed tick.
    const o = S.adaptive
    console.log(`\nadaptive tick: ${o.receivers} receivers, ${o.rate} px/s, ${o.seconds} s, adaptive vs fixed`)
    const rows = [
      await traffic('pixelwire', { ...o, label: 'pixelwire, adaptive tick (default)' }),
      await traffic('pixelwire', { ...o, env: { TICK_MAX_MS: '50' }, label: 'pixelwire, fixed 50 ms tick (TICK_MAX_MS=50)' })
    ]
    sections.push(`## adaptive tick: what it buys. ${o.receivers} receivers, ${o.rate} pixels/s in, ${o.seconds} s${burnt}\n\n` +
      'Both rows are pixelwire; the second has the adaptive tick off. The ratio columns compare it with the first.\n\n' + trafficTable(rows))
  }

  if (chosen.includes('idle')) {
    console.log(`\nidle: ${S.idle} authenticated connections`)
    const rows: IdleRow[] = []
    for (const t of ORIGINAL.filter(has)) rows.push(await idle(t, S.idle))
    const pw = rows[0]
    sections.push(`## idle: ${S.idle} authenticated connections\n\n| server | connected | held after 5 s | RSS before→after | RSS per connection | ratio to pixelwire | errors |\n|---|---:|---:|---:|---:|---:|---|\n` +
      rows.map((r) => `| ${r.server} | ${r.connections} | ${r.held} | ${r.rssBefore.toFixed(0)}→${r.rssAfter.toFixed(0)} MiB | ${r.perConnKiB.toFixed(1)} KiB | ${r === pw ? '' : ratio(r.perConnKiB, pw.perConnKiB)} | ${r.errors} |`).join('\n'))
    if (pw?.server === LABEL.pixelwire) {
      check('idle', `all ${S.idle} held, no errors`, pw.held === S.idle && pw.errors === '', `${pw.held} held${pw.errors !== '' ? `, ${pw.errors}` : ''}`)
      check('idle', 'RSS per connection <= 8 KiB', pw.perConnKiB <= 8, `${pw.perConnKiB.toFixed(1)} KiB`)
    }
  }

  if (chosen.includes('join')) {
    const o = S.join
    console.log(`\njoin storm: ${o.clients} clients within ${o.seconds} s`)
    const rows: JoinRow[] = []
    for (const t of ORIGINAL.filter(has)) rows.push(await joinStorm(t, o))
    const pw = rows[0]
    sections.push(`## join storm: ${o.clients} clients join within ${o.seconds} s\n\nJoin time: from the client's connect to its complete SNAPSHOT (handshake + snapshot).\n\n| server | got snapshot | join p50 | join p99 | max | server CPU during the storm | p99 ÷ pixelwire p99 | notes |\n|---|---:|---:|---:|---:|---:|---:|---|\n` +
      rows.map((r) => `| ${r.server} | ${r.got}/${r.clients} | ${fmtMs(r.p50)} | ${fmtMs(r.p99)} | ${fmtMs(r.max)} | ${r.cpuSec.toFixed(2)} s | ${r === pw ? '' : ratio(r.p99, pw.p99)} | ${r.notes} |`).join('\n'))
    if (pw?.server === LABEL.pixelwire) {
      check('join storm', 'all get their snapshot', pw.got === o.clients, `${pw.got}/${o.clients}`)
      check('join storm', 'p99 join <= 2 s', pw.p99 <= 2000, fmtMs(pw.p99))
    }
  }

  if (chosen.includes('persistence') && has('pixelwire')) {
    const o = S.persistence
    console.log(`\npersistence: ${o.rate} px/s in strokes of 500, ${o.seconds} s, 20 receivers attached`)
    const { row, committedPerSec } = await persistence(o)
    sections.push(`## persistence: painters send ${fmtN(o.rate)} pixels/s (strokes of 500) for ${o.seconds} s, 20 receivers attached\n\n` +
      `Committed to SQLite (canvases.seq, read over REST, before and after): **${fmtN(committedPerSec)} pixels/s**.\n\n${trafficTable([row])}`)
    check('persistence', '>= 100,000 pixels/s committed', committedPerSec >= 100_000, `${fmtN(committedPerSec)}/s`)
  }

  if (chosen.includes('slow')) {
    const o = { ...S.slow, slowEvery: 10 }
    console.log(`\nslow consumers: ${o.receivers} receivers, every 10th stops reading, ${o.rate} px/s, ${o.seconds} s`)
    const rows: TrafficRow[] = []
    for (const t of (['pixelwire', 'ws'] as const).filter(has)) rows.push(await traffic(t, o))
    sections.push(`## slow consumers: ${o.receivers} receivers, 10% stop reading, ${o.rate} pixels/s, ${o.seconds} s${burnt}\n\nFigures are for the 90% that keep reading.\n\n${trafficTable(rows)}`)
    const pw = rows[0]
    if (pw?.server === LABEL.pixelwire) {
      check(sc('slow consumers'), 'the 90% get every pixel', pw.deliveredPct >= 99.999, `${pw.deliveredPct.toFixed(3)}%`)
      check(sc('slow consumers'), 'the 90%: p99 <= 100 ms', pw.p99 <= 100, fmtMs(pw.p99))
      check(sc('slow consumers'), 'RSS bounded (peak < start + 200 MiB)', pw.rssPeak < pw.rssStart + 200, `${pw.rssStart.toFixed(0)}→${pw.rssPeak.toFixed(0)} MiB`)
    }
  }

  if (chosen.includes('fanout-heavy')) {
    // Issue 11's fan-out: the tail and the CPU cost of a delivery against the hand-written peer.
    const o = S.heavy
    console.log(`\nfan-out, heavy: ${o.receivers} receivers, ${o.rate} px/s, ${o.seconds} s, pixelwire and (d)`)
    const runs = await paired(o, [])
    sections.push(`## fan-out, heavy: ${o.receivers} receivers, ${o.rate} pixels/s in, ${o.seconds} s${burnt}\n\n${pairedTables(sc('fan-out heavy'), runs, { delivered: 1, p99: 1, cpu: 1.05 })}`)
  }

  if (chosen.includes('burner')) {
    // The fanout-heavy load again, each server sharing its core with a busy loop.
    const o = { ...S.heavy, burner: true }
    const where = burnerOpts.core !== null ? `pinned with the server to core ${burnerOpts.core}` : 'nothing pinned'
    console.log(`\nCPU burner: ${o.receivers} receivers, ${o.rate} px/s, ${o.seconds} s, a busy loop (${where}, nice ${burnerOpts.nice}), pixelwire and (d)`)
    const runs = await paired(o, [])
    sections.push(`## CPU burner: ${o.receivers} receivers, ${o.rate} pixels/s in, ${o.seconds} s, a busy-loop process ${where}, nice ${burnerOpts.nice}\n\n` +
      'The fan-out-heavy load while a competing process spins on the server\'s core (from before the painting window to its end).\n\n' +
      pairedTables('CPU burner', runs, { p99: 1 }))
  }

  if (chosen.includes('cluster') && has('pixelwire')) {
    // Issue 12: two nodes and Redis against one node, the same load in the same run; then WORKERS.
    const o = S.cluster
    console.log(`\ncluster: ${o.receivers} receivers, ${o.rate} px/s, ${o.seconds} s; one node, then 2 nodes + Redis; WORKERS=1 and 2`)
    const single = await traffic('pixelwire', { ...o, burner: false, label: 'one node, no Redis' })
    const two = await clusterTraffic({ nodes: 2 }, { ...o, label: '2 nodes + Redis' })
    const low = await clusterTraffic({ nodes: 2 }, { ...o.low, label: `2 nodes + Redis, ${o.low.receivers} receivers, ${o.low.rate} px/s` })
    const w1 = await clusterTraffic({ workers: 1 }, { ...o, seconds: o.workersSeconds, label: 'WORKERS=1 + Redis' })
    const w2 = await clusterTraffic({ workers: 2 }, { ...o, seconds: o.workersSeconds, label: 'WORKERS=2 + Redis' })
    const rows = [single, two, low, w1, w2]
    const p99Ratio = two.p99 / single.p99
    check('cluster', 'every pixel delivered to every receiver (2 nodes + Redis)', two.deliveredPct >= 99.999, `${two.deliveredPct.toFixed(3)}%`)
    check('cluster', 'p99 <= 1.5x one node (same run)', p99Ratio <= 1.5, `${Number.isFinite(p99Ratio) ? p99Ratio.toFixed(2) : '-'}x (${fmtMs(two.p99)} vs ${fmtMs(single.p99)})`)
    const perBeat = (r: TrafficRow) => {
      const t = r.window as RoundTrips | undefined
      const beats = Object.values(r.beats).reduce((a, b) => a + b, 0)
      return t === undefined || beats === 0 ? NaN : Object.values(t.nodes).reduce((a, n) => a + n.total, 0) / beats
    }
    const tripsRatio = perBeat(two) / perBeat(low)
    // Per beat a node makes at most one append per canvas and reads at most once per node that appended: a bound, not
    // an exact count (under load more entries wait per read, and an append still in flight takes the next beat's pixels too).
    check('cluster', `Redis round trips per beat per node do not grow with the load: full ÷ ${o.low.receivers} × ${o.low.rate} px/s load <= 1.25x`, tripsRatio <= 1.25,
      `${perBeat(two).toFixed(2)} vs ${perBeat(low).toFixed(2)} (${Number.isFinite(tripsRatio) ? tripsRatio.toFixed(2) : '-'}x)`)
    sections.push(`## cluster: 2 nodes + Redis against one node, ${o.receivers} receivers, ${o.rate} pixels/s in, ${o.seconds} s\n\n` +
      'Rows, one after the other: one node without Redis; two nodes (`node-1`, `node-2`, each its own port and DATA_DIR) sharing a redis-server of the bench\'s own ' +
      '(appendonly yes), receivers and painters split evenly over them, so a pixel painted on one node reaches half its receivers through the other; ' +
      `the two nodes again at ${o.low.receivers} receivers and ${o.low.rate} px/s for ${o.low.seconds} s (round trips at another load); ` +
      `one server with WORKERS=1 and with WORKERS=2 on a Redis (${o.workersSeconds} s each). ` +
      'Every Redis is fresh. The server CPU column sums the pixelwire processes (Redis apart, below). The ratio columns compare each row with the first.\n\n' +
      `${trafficTable(rows)}\n\n${clusterTables(single, two, low, [w1, w2], o.low)}`)
  }

  const minutes = (Date.now() - began.getTime()) / 60_000
  const date = began.toISOString().slice(0, 10)
  const doc = [
    `# Benchmark run ${began.toISOString()}${quick ? ' (quick)' : ''}`,
    '',
    `Command: \`npm run bench${argv.length > 0 ? ` -- ${argv.join(' ')}` : ''}\` (${minutes.toFixed(1)} min)`,
    '',
    `Machine: ${machine}. Server, baselines and client processes share it.`,
    '',
    `pixelwire build: ${pixelwireBuild()}`,
    '',
    'Every server ran in turn under the same client processes (Node `ws`; socket.io-client for Socket.IO), on 127.0.0.1.',
    'Latency is from a painter\'s send to a receiver\'s receipt, for every pixel with x % 8 = 0 at ~200 sampled receivers.',
    '"Kept up": at least 99% of all deliveries arrived within 2 s after painting stopped.',
    '',
    '## Targets',
    '',
    '| scenario | target | measured | |',
    '|---|---|---|---|',
    ...checks,
    '',
    ...sections.flatMap((s) => [s, ''])
  ].join('\n')
  const file = option('out') ?? (full ? `bench/results/${date}.md` : `bench/results/${date}-${quick ? 'quick' : 'partial'}.tmp`)
  mkdirSync(dirname(file), { recursive: true })
  writeFileSync(file, doc)
  console.log(`\n${doc}\n\nwritten to ${file}`)
}

main().then(() => { killAll(); process.exit(0) }, (err: Error) => { console.error(err); killAll(); process.exit(1) })
