// The server under test as a child process (the compiled build, as in
// production), and what Linux /proc says about it: RSS, CPU, TCP sockets.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process'
import { readdirSync, readFileSync, readlinkSync } from 'node:fs'
import { createInterface } from 'node:readline'
import { ConfigSchema } from '../../src/config.js'

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, Math.max(0, ms)))

/** Resolves true if p settles within ms, false otherwise. */
export const within = (p: Promise<unknown>, ms: number) =>
  Promise.race([p.then(() => true, () => true), sleep(ms).then(() => false)])

// utime/stime in /proc/<pid>/stat are in clock ticks.
const CLK_TCK = (() => {
  try { return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' })) || 100 } catch { return 100 }
})()

export interface TcpRow { localPort: number, remotePort: number, state: string, txQueue: number, rxQueue: number, inode: string }
export const TCP_STATE: Record<string, string> = { '01': 'ESTABLISHED', '04': 'FIN_WAIT1', '05': 'FIN_WAIT2', '06': 'TIME_WAIT', '07': 'CLOSE', '08': 'CLOSE_WAIT', '0A': 'LISTEN' }

/**
 * IPv4 sockets of this network namespace. The server's end of a connection
 * leaves ESTABLISHED the moment the server closes it (FIN_WAIT1 while its FIN
 * waits behind data the paused client never read), without the client reading.
 */
export function tcpTable (): TcpRow[] {
  return readFileSync('/proc/net/tcp', 'utf8').trim().split('\n').slice(1).map((line) => {
    const f = line.trim().split(/\s+/)
    const port = (addr: string) => parseInt(addr.split(':')[1], 16)
    return { localPort: port(f[1]), remotePort: port(f[2]), state: f[3], txQueue: parseInt(f[4], 16), rxQueue: port(f[4]), inode: f[9] }
  })
}

/** Server RSS (MiB) and CPU time used so far (s), or null once it is gone. */
export function sampleProc (pid: number): { rss: number, cpu: number } | null {
  try {
    const rss = Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]) / 1024
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ') // f[0] is field 3 (state): utime is 14, stime 15
    return { rss, cpu: (Number(f[11]) + Number(f[12])) / CLK_TCK }
  } catch {
    return null
  }
}

/** The inodes of the sockets pid holds (its fds in /proc; empty once it is gone). */
export function socketInodes (pid: number): Set<string> {
  const inodes = new Set<string>()
  try {
    for (const fd of readdirSync(`/proc/${pid}/fd`)) {
      const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`, 'utf8'))
      if (m !== null) inodes.add(m[1])
    }
  } catch {}
  return inodes
}

/** At LOG_LEVEL=warn the server does not log its address: find its listening socket instead. */
function listeningPort (pid: number): number {
  const inodes = socketInodes(pid)
  return tcpTable().find((r) => r.state === '0A' && inodes.has(r.inode))?.localPort ?? 0
}

export interface Server {
  child: ChildProcess
  pid: number
  port: number
  /** exit code or signal once it has exited */
  exit: number | string | null
  exited: Promise<void>
  /** pino lines per level name, and the last lines of output (for a post-mortem) */
  levels: Record<string, number>
  tail: string[]
}

const LEVELS: Record<number, string> = { 10: 'trace', 20: 'debug', 30: 'info', 40: 'warn', 50: 'error', 60: 'fatal' }

/** `cwd`: the checkout whose build (dist/src/server.js) runs; default this one. */
export async function startServer (env: Record<string, string>, bootMs = 20_000, execArgv: string[] = [], cwd?: string): Promise<Server> {
  // The parent's environment minus every variable the server reads, so the host cannot leak in.
  const base = Object.fromEntries(Object.entries(process.env).filter(([k]) => !(k in ConfigSchema.properties)))
  const child = spawn(process.execPath, [...execArgv, 'dist/src/server.js'], { cwd, env: { ...base, ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
  const s: Server = { child, pid: child.pid ?? 0, port: 0, exit: null, exited: Promise.resolve(), levels: {}, tail: [] }
  s.exited = new Promise((resolve) => child.once('exit', (code, signal) => { s.exit = code ?? signal; resolve() }))
  const onLine = (line: string) => {
    s.tail.push(line.slice(0, 500))
    if (s.tail.length > 20) s.tail.shift()
    try {
      const level = LEVELS[JSON.parse(line).level] ?? 'other'
      s.levels[level] = (s.levels[level] ?? 0) + 1
    } catch {
      s.levels.text = (s.levels.text ?? 0) + 1
    }
    const m = /listening at http:\/\/127\.0\.0\.1:(\d+)/.exec(line)
    if (m !== null) s.port = Number(m[1])
  }
  createInterface({ input: child.stdout! }).on('line', onLine)
  createInterface({ input: child.stderr! }).on('line', onLine)
  const deadline = Date.now() + bootMs
  while (s.port === 0) {
    if (s.exit !== null) throw new Error(`server exited (${s.exit}) before listening:\n${s.tail.join('\n')}`)
    if (Date.now() > deadline) throw new Error(`server not listening within ${bootMs} ms`)
    s.port ||= listeningPort(s.pid)
    if (s.port === 0) await sleep(100)
  }
  return s
}

/** SIGTERM (graceful drain), SIGKILL if that takes longer than ms. */
export async function stopServer (s: Server, ms = 12_000): Promise<string> {
  if (s.exit !== null) return `had already exited (${s.exit})`
  const t = Date.now()
  s.child.kill('SIGTERM')
  if (await within(s.exited, ms)) return `exited (${s.exit}) ${Date.now() - t} ms after SIGTERM`
  s.child.kill('SIGKILL')
  await s.exited
  return `did not exit within ${ms} ms of SIGTERM: SIGKILLed`
}

/** The whole machine's CPU time so far (s): busy (everything but idle and iowait) and total, over all cores. */
export function machineCpu (): { busy: number, total: number } {
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number)
  const total = f.reduce((a, v) => a + v, 0)
  return { busy: (total - f[3] - (f[4] ?? 0)) / CLK_TCK, total: total / CLK_TCK }
}

/** A Prometheus histogram's cumulative buckets (le → count) and its count, from a /metrics text. */
export function histogramOf (text: string, name: string): { buckets: Map<number, number>, count: number } {
  const buckets = new Map<number, number>()
  let count = 0
  for (const line of text.split('\n')) {
    const b = new RegExp(`^${name}_bucket\\{le="([^"]+)"\\} (\\S+)$`).exec(line)
    if (b !== null) buckets.set(b[1] === '+Inf' ? Infinity : Number(b[1]), Number(b[2]))
    const c = new RegExp(`^${name}_count (\\S+)$`).exec(line)
    if (c !== null) count = Number(c[1])
  }
  return { buckets, count }
}

/** The upper bound of the bucket holding quantile q of the observations between two scrapes ("<= le"). */
export function bucketQuantile (before: ReturnType<typeof histogramOf>, after: ReturnType<typeof histogramOf>, q: number): number {
  const n = after.count - before.count
  if (n <= 0) return NaN
  for (const [le, c] of [...after.buckets].sort((a, b) => a[0] - b[0])) if (c - (before.buckets.get(le) ?? 0) >= q * n) return le
  return Infinity
}
