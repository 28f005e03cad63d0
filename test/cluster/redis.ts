// Real parts for the cluster tests: a redis-server of their own and node
// processes of the built server.
//
// - startRedis: Debian's /usr/bin/redis-server on a free loopback port
//   (never 6379), AOF on, in a temp dir; kill9() and restart() on the same
//   dir (its AOF) or on a fresh one (a Redis that lost its data); stopped in
//   teardown.
// - startNodes: N processes of `dist/src/server.js`, each with its own
//   DATA_DIR and NODE_ID. The server is compiled once per source state into
//   node_modules/.cache/pixelwire-cluster-build (not ./dist, which a
//   developer's `npm run build` owns): a lock directory keeps two test files
//   from compiling at once, a stamp of the sources' sizes and times skips
//   the compile when nothing changed.
import { createHash } from 'node:crypto'
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import type { Test } from 'tap'
import { ROOT } from '../../src/paths.js'
import { freePort } from '../../bench/lib/redis.js'
import { SECRET, tempDir, until } from '../helper.js'
import { listening, spawnProcess, stop, within, type Proc } from '../process.js'

export const REDIS_SERVER = '/usr/bin/redis-server'
// one free-port picker for the tests and the bench's own redis-server
export { freePort }

// `until` lives in ../helper.ts (tests outside cluster/ use it too); re-exported for these files.
export { until }

export interface RedisServer {
  port: number
  url: string
  /** the data dir of the running process (its AOF lives here) */
  dir: string
  proc: Proc
  /** SIGKILL, and wait for the exit */
  kill9 (): Promise<void>
  /** start again on the same port: on the same dir (its AOF), or on a fresh, empty one */
  restart (opts?: { fresh?: boolean }): Promise<void>
  /** SIGSTOP / SIGCONT (an unresponsive Redis that keeps its sockets) */
  pause (): void
  resume (): void
}

/** A redis-server of the test's own: free port, AOF on, its own dir; killed in teardown. */
export async function startRedis (t: Test): Promise<RedisServer> {
  if (!existsSync(REDIS_SERVER)) throw new Error(`${REDIS_SERVER} not found: install Debian's redis-server (.ci/run does)`)
  const port = await freePort()
  const server: RedisServer = {
    port,
    url: `redis://127.0.0.1:${port}`,
    dir: tempDir(t, 'pixelwire-redis-'),
    proc: undefined as unknown as Proc,
    async kill9 () {
      server.proc.child.kill('SIGKILL')
      await within(server.proc.exited, 10000, 'redis-server exit after SIGKILL')
    },
    async restart (opts = {}) {
      if (opts.fresh === true) server.dir = tempDir(t, 'pixelwire-redis-')
      await launch()
    },
    pause () { server.proc.child.kill('SIGSTOP') },
    resume () { server.proc.child.kill('SIGCONT') }
  }
  async function launch (): Promise<void> {
    // Persistence as production runs it: every write in the AOF before its
    // reply (a process kill loses nothing; appendfsync is the operator's
    // power-loss choice), no RDB snapshots, loopback only.
    server.proc = spawnProcess(t, REDIS_SERVER, [
      '--port', String(port), '--bind', '127.0.0.1', '--dir', server.dir,
      '--appendonly', 'yes', '--appendfsync', 'everysec', '--save', '',
      '--daemonize', 'no', '--logfile', '', '--loglevel', 'notice'
    ], {})
    await within(new Promise<void>((resolve, reject) => {
      const check = () => { if (/Ready to accept connections/.test(server.proc.out())) resolve() }
      server.proc.child.stdout!.on('data', check)
      check()
      server.proc.exited.then(({ code }) => reject(new Error(`redis-server exited (${code}): ${server.proc.out()}${server.proc.err()}`)))
    }), 20000, 'redis-server ready')
  }
  await launch()
  return server
}

const BUILD_DIR = join(ROOT, 'node_modules/.cache/pixelwire-cluster-build')
const SOURCES = ['src', 'plugins', 'routes', 'migrations', 'package-lock.json', 'tsconfig.json', 'tsconfig.build.json']

/** Sizes and times of every source file: changes whenever a compile would. */
function sourceStamp (): string {
  const hash = createHash('sha256')
  const walk = (rel: string): void => {
    const abs = join(ROOT, rel)
    const st = statSync(abs)
    if (st.isDirectory()) {
      for (const e of readdirSync(abs).sort()) if (e !== 'client') walk(`${rel}/${e}`)
    } else {
      hash.update(`${rel} ${st.size} ${st.mtimeMs}\n`)
    }
  }
  for (const s of SOURCES) walk(s)
  return hash.digest('hex')
}

/**
 * The compiled server (its dist/src/server.js), current with the sources.
 * The build dir looks like a project root (package.json, migrations and
 * public linked), so src/paths.ts finds it and app.ts loads dist/plugins
 * from it; packages resolve from the checkout's node_modules above it.
 */
export async function builtServer (t: Test): Promise<string> {
  const entry = join(BUILD_DIR, 'dist/src/server.js')
  const stampFile = join(BUILD_DIR, 'stamp')
  const lock = `${BUILD_DIR}.lock`
  const stamp = sourceStamp()
  const current = () => existsSync(entry) && existsSync(stampFile) && readFileSync(stampFile, 'utf8') === stamp
  mkdirSync(join(ROOT, 'node_modules/.cache'), { recursive: true })
  await until(() => {
    if (current()) return true
    try {
      mkdirSync(lock) // atomic: one compiler at a time
      return true
    } catch {
      // another test file compiles; a lock older than 5 minutes is a dead one
      if (Date.now() - statSync(lock, { throwIfNoEntry: false })!.mtimeMs > 300000) rmSync(lock, { recursive: true, force: true })
      return false
    }
  }, 300000, 'the cluster build lock', 250)
  if (current()) {
    rmSync(lock, { recursive: true, force: true })
    return entry
  }
  try {
    rmSync(BUILD_DIR, { recursive: true, force: true })
    mkdirSync(BUILD_DIR, { recursive: true })
    for (const part of ['package.json', 'migrations', 'public']) symlinkSync(join(ROOT, part), join(BUILD_DIR, part))
    const tsc = spawnProcess(t, process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.build.json', '--noCheck', '--outDir', join(BUILD_DIR, 'dist')], {}, { cwd: ROOT, bare: true })
    const exit = await within(tsc.exited, 240000, 'compiling the server')
    if (exit.code !== 0) throw new Error(`tsc: exit ${exit.code}\n${tsc.out()}${tsc.err()}`)
    writeFileSync(stampFile, stamp)
  } finally {
    rmSync(lock, { recursive: true, force: true })
  }
  return entry
}

export interface Node extends Proc {
  id: string
  port: number
  dataDir: string
  url: string
  ws: string
  /** SIGKILL and wait for the exit */
  kill9 (): Promise<void>
  /** SIGTERM and wait for the graceful exit */
  stop (): Promise<unknown>
}

export interface NodesOptions {
  /** REDIS_URL of every node (omitted: nodes alone) */
  redisUrl?: string
  /** extra environment of every node */
  env?: Record<string, string>
}

export interface Nodes {
  nodes: Node[]
  /** start node i again (same NODE_ID, DATA_DIR and port), after it exited */
  restart (i: number): Promise<Node>
}

/**
 * N processes of the built server on loopback, node-1..node-N, each with
 * its own DATA_DIR and port; SIGKILLed in teardown if still running.
 */
export async function startNodes (t: Test, n: number, opts: NodesOptions = {}): Promise<Nodes> {
  const entry = await builtServer(t)
  const specs = await Promise.all(Array.from({ length: n }, async (_v, i) => ({
    id: `node-${i + 1}`, port: await freePort(), dataDir: tempDir(t, `pixelwire-node${i + 1}-`)
  })))
  async function launch (spec: { id: string, port: number, dataDir: string }): Promise<Node> {
    const env: Record<string, string> = {
      PORT: String(spec.port),
      HOST: '127.0.0.1',
      DATA_DIR: spec.dataDir,
      NODE_ID: spec.id,
      JWT_SECRET: SECRET,
      LOG_LEVEL: 'info',
      HEARTBEAT_MS: '60000',
      SHUTDOWN_TIMEOUT_MS: '5000',
      ...(opts.redisUrl !== undefined ? { REDIS_URL: opts.redisUrl } : {}),
      ...opts.env
    }
    const proc = spawnProcess(t, process.execPath, [entry], env, { bare: true })
    // Boot time is not under test: two cluster files at once (tap's 2 jobs)
    // start six nodes together on a loaded machine, past 30 s.
    const port = await listening(proc, 90000)
    return {
      ...proc,
      ...spec,
      port,
      url: `http://127.0.0.1:${port}`,
      ws: `ws://127.0.0.1:${port}/ws`,
      async kill9 () {
        proc.child.kill('SIGKILL')
        await within(proc.exited, 10000, `${spec.id} exit after SIGKILL`)
      },
      stop: () => stop(proc)
    }
  }
  const nodes = await Promise.all(specs.map(launch))
  return {
    nodes,
    async restart (i) {
      nodes[i] = await launch(specs[i])
      return nodes[i]
    }
  }
}
