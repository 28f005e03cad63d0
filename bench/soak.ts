// Soak: against the built server, normal painters draw and watchers read
// while a slow client, a dead client and a handshake flood press on it.
// Prints server RSS/CPU and delivery latency every 2 s, then a summary; exits
// 0 when every check passes. Bounded: hard deadline at duration + 30 s.
//
//   npm run soak -- [--duration 60] [--painters 4] [--watchers 20] [--rate 1000] [--handshakes 200]
//                   [--heartbeat-ms 2000 ... any server variable as --kebab-case]
import { execFileSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { monitorEventLoopDelay } from 'node:perf_hooks'
import WebSocket from 'ws'
import { ConfigSchema } from '../src/config.js'
import { deadClient, encodePixel, flood, Histogram, painter, signer, slowClient, watcher, type Held, type Painter, type Watcher } from './lib/clients.js'
import { sampleProc, sleep, startServer, stopServer, tcpTable, TCP_STATE, within, type Server } from './lib/server.js'

const load = { duration: 60, painters: 4, watchers: 20, rate: 1000, handshakes: 200 }
const overrides: Record<string, string> = {}
const argv = process.argv.slice(2)
for (let i = 0; i < argv.length; i++) {
  const arg = argv[i]
  const m = /^--([a-z0-9-]+)(?:=(.*))?$/.exec(arg)
  const value = m?.[2] ?? argv[++i]
  const env = m?.[1].toUpperCase().replaceAll('-', '_') ?? ''
  if (m !== null && m[1] in load && Number(value) > 0) load[m[1] as keyof typeof load] = Number(value)
  else if (env in ConfigSchema.properties && value !== undefined) overrides[env] = value
  else throw new Error(`bad argument ${arg} ${value ?? ''}: expected --${Object.keys(load).join('|--')} N (> 0) or --server-variable VALUE`)
}

const dataDir = mkdtempSync(join(tmpdir(), 'pixelwire-soak-'))
// Enough budget that painters are never rate limited by design (2x their share).
const pixelRate = Math.ceil(2 * load.rate / load.painters)
const env: Record<string, string> = {
  JWT_SECRET: randomBytes(32).toString('hex'),
  HEARTBEAT_MS: '2000', // the dead client is reaped within the run
  SLOW_CLIENT_TIMEOUT_MS: '3000',
  HANDSHAKE_RATE: '50',
  LOG_LEVEL: 'warn',
  PIXEL_RATE: String(pixelRate),
  PIXEL_BURST: String(Math.max(4096, pixelRate)),
  ...overrides,
  HOST: '127.0.0.1', // targets this host only
  PORT: '0',
  DATA_DIR: dataDir
}
let server: Server | undefined
const cleanup = () => {
  if (server?.exit === null) server.child.kill('SIGKILL')
  rmSync(dataDir, { recursive: true, force: true })
}
process.once('SIGINT', () => { cleanup(); process.exit(130) })

const fmt = (v: number, d = 1) => Number.isFinite(v) ? v.toFixed(d) : '-'
const pad = (v: string | number, n: number) => String(v).padStart(n)

async function soak (): Promise<number> {
  execFileSync('npm', ['run', '-s', 'build'], { stdio: 'inherit', timeout: 180_000 })
  // The build is bounded by its own timeout; from here the whole run is.
  const hard = setTimeout(() => {
    console.error(`hard deadline (${load.duration + 30} s) reached: killing the server`)
    cleanup()
    process.exit(1)
  }, (load.duration + 30) * 1000)
  server = await startServer(env)
  const { pid, port } = server
  const url = `ws://127.0.0.1:${port}/ws`
  const sign = signer(env.JWT_SECRET, load.duration + 600)
  const [W, H] = [Number(env.DEFAULT_CANVAS_WIDTH ?? 1024), Number(env.DEFAULT_CANVAS_HEIGHT ?? 1024)] // fresh DATA_DIR: main has this size
  const shown = Object.entries(env).filter(([k]) => k !== 'JWT_SECRET' && k !== 'DATA_DIR').map(([k, v]) => `${k}=${v}`)
  console.log(`soak: ${load.duration} s, ${load.painters} painters, ${load.watchers} watchers, ${load.rate} px/s, ${load.handshakes} handshakes/s`)
  console.log(`server: node dist/src/server.js pid ${pid} on 127.0.0.1:${port}, ${shown.join(' ')}`)

  // Normal clients, slow and dead clients connect before the flood takes the per-IP handshake budget.
  const sentAt = new Map<number, number>() // pixel n -> performance.now() when sent
  const total = new Histogram()
  const interval = new Histogram()
  const watchers: Watcher[] = []
  for (let i = 0; i < load.watchers; i++) watchers.push(await watcher(url, sign(`watcher-${i}`, 'viewer'), sentAt, W, H, [total, interval]))
  if (!await within(Promise.all(watchers.map((w) => w.synced)), 10_000)) throw new Error('watchers got no snapshot')
  const painters: Painter[] = []
  for (let i = 0; i < load.painters; i++) painters.push(await painter(url, sign(`painter-${i}`, 'painter')))
  const held: Array<Held & { name: string, closedAfter: number | null, state: string, maxUnread: number }> = [
    { name: 'slow client', ...await slowClient(url, sign('slow', 'viewer')), closedAfter: null, state: '', maxUnread: 0 },
    { name: 'dead client', ...await deadClient(port, sign('dead', 'viewer')), closedAfter: null, state: '', maxUnread: 0 }
  ]

  const t0 = performance.now()
  // Our own event-loop lag inflates measured latency: show it beside it (per interval and whole run).
  const [lag, lagNow] = [monitorEventLoopDelay({ resolution: 10 }), monitorEventLoopDelay({ resolution: 10 })]
  lag.enable(); lagNow.enable()
  // The kernel shows when the server closes a socket whose owner is not reading: the server's end
  // leaves ESTABLISHED (or vanishes on a reset). Bytes in flight = client rx queue + server tx queue.
  const tcpWatch = setInterval(() => {
    const rows = tcpTable()
    for (const h of held.filter((h) => h.closedAfter === null)) {
      const ours = rows.find((r) => r.localPort === h.localPort && r.remotePort === port)
      const theirs = rows.find((r) => r.localPort === port && r.remotePort === h.localPort)
      h.maxUnread = Math.max(h.maxUnread, (ours?.rxQueue ?? 0) + (theirs?.txQueue ?? 0))
      if (theirs?.state !== '01') {
        h.closedAfter = (performance.now() - h.since) / 1000
        h.state = `server end ${theirs === undefined ? 'gone' : TCP_STATE[theirs.state] ?? theirs.state}, client end ${ours === undefined ? 'gone' : TCP_STATE[ours.state] ?? ours.state}`
      }
    }
  }, 250)
  let n = 0 // pixels sent; pixel n is unique up to 2^24 (its colour)
  const paint = setInterval(() => {
    const open = painters.filter((p) => p.ws.readyState === WebSocket.OPEN)
    const due = Math.min(2 ** 24, Math.floor(load.rate * (performance.now() - t0) / 1000))
    for (let k = 0; n < due && open.length > 0 && k < load.rate / 10; k++, n++) {
      sentAt.set(n, performance.now())
      open[n % open.length].ws.send(encodePixel(n, W, H))
    }
  }, 10)
  const fl = flood(url, sign, load.handshakes)

  const rss: Array<{ t: number, rss: number }> = [{ t: 0, rss: sampleProc(pid)?.rss ?? NaN }]
  const cpu0 = sampleProc(pid)?.cpu ?? 0
  let prev = { t: 0, cpu: cpu0 }
  console.log(`\n${pad('t s', 5)} ${pad('RSS MiB', 8)} ${pad('CPU %', 6)} ${pad('sent', 8)} ${pad('delivered', 10)} ${pad('p50 ms', 7)} ${pad('p99 ms', 7)} ${pad('max ms', 7)} ${pad('own lag', 8)}  flood 101/429/503/other`)
  for (let t = 2; t <= load.duration && server.exit === null; t += 2) {
    await sleep(t0 + t * 1000 - performance.now())
    const s = sampleProc(pid)
    const delivered = watchers.reduce((a, w) => a + w.delivered, 0)
    const c = fl.counts
    console.log(`${pad(t, 5)} ${pad(fmt(s?.rss ?? NaN), 8)} ${pad(fmt(s === null ? NaN : 100 * (s.cpu - prev.cpu) / (t - prev.t), 0), 6)} ${pad(n, 8)} ${pad(delivered, 10)} ` +
      `${pad(fmt(interval.quantile(0.5)), 7)} ${pad(fmt(interval.quantile(0.99)), 7)} ${pad(fmt(interval.max), 7)} ${pad(fmt(lagNow.max / 1e6), 8)}  ${c[101]}/${c[429]}/${c[503]}/${c.other}`)
    interval.reset(); lagNow.reset()
    if (s !== null) { rss.push({ t, rss: s.rss }); prev = { t, cpu: s.cpu } }
  }
  await sleep(t0 + load.duration * 1000 - performance.now())
  clearInterval(paint)
  fl.stop()
  lag.disable(); lagNow.disable()
  await sleep(2000) // > 10 ticks: every committed pixel has reached the watchers
  clearInterval(tcpWatch)
  const ended = await Promise.all(held.map(async (h) => {
    h.resume() // read what was left, to see how the server ended it
    let how = 'still open 3 s after reading again'
    await within(h.ended.then((e) => { how = `read after the run: ${e}` }), 3000)
    return how
  }))
  const health = await fetch(`http://127.0.0.1:${port}/health`, { signal: AbortSignal.timeout(3000) }).then((r) => r.status, (e) => String(e))
  const alive = server.exit === null && health === 200
  const end = sampleProc(pid)
  if (end !== null) rss.push({ t: (performance.now() - t0) / 1000, rss: end.rss })
  const closedEarly = [...watchers, ...painters].filter((c) => c.closeCode !== null).map((c) => c.closeCode)
  for (const c of [...watchers, ...painters]) c.ws.terminate()
  const stopped = await stopServer(server)
  clearTimeout(hard)

  // Summary. Pixels the server refused (each `error` answers one PIXEL) were never committed.
  const rejected: Record<string, number> = {}
  for (const p of painters) for (const [k, v] of Object.entries(p.rejected)) rejected[k] = (rejected[k] ?? 0) + v
  const expected = n - Object.values(rejected).reduce((a, b) => a + b, 0)
  const delivered = watchers.reduce((a, w) => a + w.delivered, 0)
  const worst = Math.min(...watchers.map((w) => w.delivered / Math.max(1, expected)))
  const missing = watchers.reduce((a, w) => a + Math.max(0, expected - w.delivered), 0)
  const seqErrors = watchers.reduce((a, w) => a + w.seqErrors, 0)
  const at10 = rss.find((s) => s.t >= 10) ?? rss[0]
  const rssEnd = rss[rss.length - 1].rss
  const rssMax = Math.max(...rss.map((s) => s.rss))
  const growth = rssEnd - at10.rss
  const c = fl.counts
  const ms = (v: number) => `${fmt(v)} ms`
  const rows: Array<[string, string]> = [
    ['load', `${load.duration} s; ${load.painters} painters, ${load.watchers} watchers, ${load.rate} px/s; flood ${load.handshakes}/s`],
    ['server RSS start / max / end', `${fmt(rss[0].rss)} / ${fmt(rssMax)} / ${fmt(rssEnd)} MiB (max − start +${fmt(rssMax - rss[0].rss)} MiB)`],
    [`server RSS growth ${at10.t} s → end`, `${growth >= 0 ? '+' : ''}${fmt(growth)} MiB`],
    ['server CPU, run average', `${fmt(100 * (prev.cpu - cpu0) / Math.max(1, prev.t), 0)} %`],
    ['pixels sent / refused', `${n} / ${JSON.stringify(rejected)}`],
    ['delivered to watchers', `${delivered} of ${expected * load.watchers} (${fmt(100 * delivered / Math.max(1, expected * load.watchers), 3)} %; worst watcher ${fmt(100 * worst, 3)} %; missing ${missing})`],
    ['seq gaps or duplicates seen', String(seqErrors)],
    ['latency p50 / p99 / max (all watchers)', `${ms(total.quantile(0.5))} / ${ms(total.quantile(0.99))} / ${ms(total.max)} over ${total.count} deliveries`],
    ['soak process event-loop delay p99 / max', `${ms(lag.percentile(99) / 1e6)} / ${ms(lag.max / 1e6)}`],
    ...held.map((h, i): [string, string] => [h.name, h.closedAfter === null
      ? `NOT closed by the server during the run (${ended[i]}; max ${h.maxUnread} B unread in kernel buffers)`
      : `closed by the server ${fmt(h.closedAfter)} s after it stopped reading (${h.state}; ${ended[i]}; max ${h.maxUnread} B unread in kernel buffers)`]),
    ['handshake flood', `101: ${c[101]}, 429: ${c[429]}, 503: ${c[503]}, other: ${c.other}${c.errors.size > 0 ? ` (${[...c.errors].join('; ')})` : ''}; skipped (500 in flight): ${c.skipped}; still in flight: ${c.inflight}`],
    ['normal clients closed by the server', closedEarly.length === 0 ? 'none' : closedEarly.join(', ')],
    ['server log lines by level', JSON.stringify(server.levels)],
    ['server at the end', `${alive ? 'up' : 'DOWN'} (/health ${health}); ${stopped}`]
  ]
  console.log('\n| metric | value |\n|---|---|\n' + rows.map(([k, v]) => `| ${k} | ${v} |`).join('\n'))

  const checks: Array<[string, boolean]> = [
    ['server alive at the end', alive],
    ['every watcher got >= 99.9 % of committed pixels', expected > 0 && worst >= 0.999],
    ['watchers saw no seq gap or duplicate', seqErrors === 0],
    [`RSS growth ${at10.t} s → end < 50 MiB`, growth < 50],
    ['slow client closed by the server', held[0].closedAfter !== null],
    ['dead client dropped by the server', held[1].closedAfter !== null]
  ]
  console.log('\n' + checks.map(([k, ok]) => `${ok ? 'PASS' : 'FAIL'}  ${k}`).join('\n'))
  if (!alive || server.exit !== 0) console.log(`\nlast server output:\n${server.tail.join('\n')}`)
  return checks.every(([, ok]) => ok) ? 0 : 1
}

let code = 1
try {
  code = await soak()
} catch (err) {
  console.error('soak failed:', err)
} finally {
  cleanup()
}
process.exit(code)
