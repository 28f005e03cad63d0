// The cluster scenario's own redis-server (Debian's /usr/bin/redis-server,
// a free loopback port, never 6379, a temp dir, AOF on as production runs
// it) and what it says about the nodes' round trips.
//
// Round trips are counted by Redis itself: for the measured window the
// slow log records every command (slowlog-log-slower-than 0). Unlike INFO's
// total_commands_processed and commandstats, its entries tell a client's
// own command (with the client's address and connection name) from a
// command a Lua script ran inside one (address "?:0", no name), and a
// blocking XREAD appears once, when it returns. pixelwire names its
// connections `pixelwire:<NODE_ID>:<role>` (redis-link.ts, cluster.ts,
// redis-streams.ts), so each entry belongs to a node and a connection.
// Logging an entry costs Redis about a microsecond; at a few hundred
// commands a second that is far below what its CPU figure can resolve.
import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { Redis } from 'ioredis'

export const REDIS_SERVER = '/usr/bin/redis-server'

/** A TCP port nothing listens on now (the OS's pick, released before use). */
export function freePort (): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer()
    srv.once('error', reject)
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number }
      srv.close(() => resolve(port))
    })
  })
}

export interface BenchRedis {
  child: ChildProcess
  pid: number
  port: number
  url: string
  /** the bench's own connection (named `bench`, so its commands are not counted as a node's) */
  client: Redis
  stop: () => Promise<void>
}

/**
 * Start a redis-server of the bench's own; `track` gets the child and its
 * dir at once (the bench's hard deadline kills the one and removes the
 * other). Stopped (and its dir removed) by stop().
 */
export async function startRedis (track: (c: ChildProcess, dir: string) => void, bootMs = 20_000): Promise<BenchRedis> {
  if (!existsSync(REDIS_SERVER)) throw new Error(`${REDIS_SERVER} not found: the cluster scenario needs Debian's redis-server (apt-get install redis-server)`)
  const dir = mkdtempSync(join(tmpdir(), 'pixelwire-bench-redis-'))
  const port = await freePort()
  if (port === 6379) throw new Error('the OS offered port 6379: refusing to run on the default Redis port')
  // As the cluster tests and production run it: every write in the AOF
  // before its reply, no RDB snapshots, loopback only. The slow log is off
  // until a measurement window turns it on.
  const child = spawn(REDIS_SERVER, [
    '--port', String(port), '--bind', '127.0.0.1', '--dir', dir,
    '--appendonly', 'yes', '--appendfsync', 'everysec', '--save', '',
    '--daemonize', 'no', '--logfile', '', '--loglevel', 'warning',
    '--slowlog-log-slower-than', '-1'
  ], { stdio: ['ignore', 'pipe', 'pipe'] })
  track(child, dir)
  const tail: string[] = []
  for (const s of [child.stdout!, child.stderr!]) {
    createInterface({ input: s }).on('line', (line) => {
      tail.push(line)
      if (tail.length > 10) tail.shift()
    })
  }
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  // Ready when it answers a PING (at --loglevel warning it prints nothing when ready).
  const client = new Redis(`redis://127.0.0.1:${port}`, { connectionName: 'bench', lazyConnect: true, maxRetriesPerRequest: 1, retryStrategy: () => 100 })
  client.on('error', () => {})
  const deadline = Date.now() + bootMs
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`redis-server exited (${child.exitCode ?? child.signalCode}) before it was ready:\n${tail.join('\n')}`)
    try {
      if (client.status === 'wait') await client.connect()
      if (await client.ping() === 'PONG') break
    } catch {}
    if (Date.now() > deadline) throw new Error(`redis-server on port ${port} did not answer within ${bootMs} ms:\n${tail.join('\n')}`)
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
  return {
    child,
    pid: child.pid ?? 0,
    port,
    url: `redis://127.0.0.1:${port}`,
    client,
    stop: async () => {
      client.disconnect()
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM')
        // SIGKILL if it takes longer than 10 s; the timer is cleared, so it keeps no process alive
        const timer = setTimeout(() => child.kill('SIGKILL'), 10_000)
        await exited
        clearTimeout(timer)
      }
      rmSync(dir, { recursive: true, force: true })
    }
  }
}

/** One node's client round trips over a window. */
export interface NodeTrips {
  total: number
  /** by command name; a script call by its name and first key (`evalsha pixelwire:canvas:{main}:meta`) */
  byCommand: Record<string, number>
  /** by connection role: command, reader, bus, command:streams */
  byConnection: Record<string, number>
}

export interface RoundTrips {
  /** per NODE_ID */
  nodes: Record<string, NodeTrips>
  /** commands Lua scripts ran inside the round trips above (not round trips) */
  inScripts: number
  /** round trips of connections that are neither a node's nor the bench's (should be 0) */
  other: number
  /** false if the slow log filled up during the window (the counts would then be low) */
  complete: boolean
}

/** How many entries the slow log keeps during a window: far more than a window logs (a few hundred a second). */
const MAX_ENTRIES = 1_000_000

/** Open a window: every command from now on is logged. */
export async function tripsBegin (r: Redis): Promise<void> {
  await r.config('SET', 'slowlog-max-len', String(MAX_ENTRIES))
  await r.config('SET', 'slowlog-log-slower-than', '0')
  await r.slowlog('RESET')
}

/** Close the window: the round trips of each node in `nodeIds` since tripsBegin, from the slow log; logging off again. */
export async function tripsEnd (r: Redis, nodeIds: readonly string[]): Promise<RoundTrips> {
  await r.config('SET', 'slowlog-log-slower-than', '-1')
  // Redis 7: a count of -1 returns every entry.
  const entries = await r.slowlog('GET', '-1') as Array<[number, number, number, Array<string>, string, string]>
  await r.slowlog('RESET')
  return countTrips(entries, nodeIds, MAX_ENTRIES)
}

/** Sort slow log entries ([id, time, µs, argv, addr, name]) into round trips per node; pure, for the test. */
export function countTrips (entries: ReadonlyArray<readonly [unknown, unknown, unknown, readonly string[], string, string]>, nodeIds: readonly string[], maxEntries: number): RoundTrips {
  const out: RoundTrips = { nodes: {}, inScripts: 0, other: 0, complete: entries.length < maxEntries }
  for (const id of nodeIds) out.nodes[id] = { total: 0, byCommand: {}, byConnection: {} }
  // longest first, so node `a-w1` is not taken for node `a`
  const ids = [...nodeIds].sort((a, b) => b.length - a.length)
  for (const [, , , argv, addr, name] of entries) {
    if (addr === '?:0' || addr === '') { out.inScripts++; continue } // Lua's client: inside a script
    if (name === 'bench') continue
    const id = ids.find((n) => name.startsWith(`pixelwire:${n}:`))
    if (id === undefined) { out.other++; continue }
    const n = out.nodes[id]
    // A script call is named by its first key (EVALSHA sha numkeys key...): which script it was
    // (pixelwire's append names the canvas meta, the heartbeat the node set, ...).
    const name0 = String(argv[0] ?? '').toLowerCase()
    const cmd = /^(eval|evalsha|eval_ro|evalsha_ro|fcall|fcall_ro)$/.test(name0) && Number(argv[2]) > 0 && argv[3] !== undefined ? `${name0} ${argv[3]}` : name0
    const conn = name.slice(`pixelwire:${id}:`.length)
    n.total++
    n.byCommand[cmd] = (n.byCommand[cmd] ?? 0) + 1
    n.byConnection[conn] = (n.byConnection[conn] ?? 0) + 1
  }
  return out
}
