// WORKERS=N: N processes serving one port through Node's cluster module
// (the primary accepts and hands connections round-robin to the workers),
// each a cluster node joined through REDIS_URL (config refuses WORKERS > 1
// without it): worker i is NODE_ID `<NODE_ID>-w<i>` with its own SQLite
// replica in DATA_DIR/worker-<i> (one DATA_DIR lock per process).
//
// The primary does nothing else: it forks the workers, starts a worker again
// when one dies (after a pause, so a worker that cannot boot does not spin),
// and on SIGTERM/SIGINT passes the signal on and exits once they all have.
import cluster from 'node:cluster'
import { join } from 'node:path'
import type { Config } from './config.js'

const WORKER_ENV = 'PIXELWIRE_WORKER'
/** A worker that died is forked again after this; one that dies at once is not a spin. */
const RESPAWN_MS = 1000

/** One JSON log line in pino's shape (the primary has no Fastify logger). */
function log (level: number, obj: object, msg: string): void {
  process.stdout.write(JSON.stringify({ level, time: Date.now(), pid: process.pid, component: 'workers', ...obj, msg }) + '\n')
}

/** In the primary of WORKERS > 1: fork and watch the workers; true. In a worker: false. */
export function runPrimary (config: Config): boolean {
  if (!cluster.isPrimary) return false
  let stopping = false
  const fork = (i: number): void => {
    const w = cluster.fork({ [WORKER_ENV]: String(i) })
    w.on('exit', (code, signal) => {
      if (stopping) return
      log(50, { worker: i, code, signal }, 'worker died; starting it again')
      setTimeout(() => { if (!stopping) fork(i) }, RESPAWN_MS)
    })
  }
  for (let i = 1; i <= config.WORKERS; i++) fork(i)
  log(30, { workers: config.WORKERS, port: config.PORT }, 'workers started')
  const stop = (signal: NodeJS.Signals): void => {
    if (stopping) return
    stopping = true
    log(30, { signal }, 'stopping the workers')
    const workers = Object.values(cluster.workers ?? {})
    if (workers.length === 0) process.exit(0)
    let left = workers.length
    for (const w of workers) {
      w?.once('exit', () => { if (--left === 0) process.exit(0) })
      w?.process.kill(signal)
    }
  }
  process.on('SIGTERM', stop)
  process.on('SIGINT', stop)
  return true
}

/** A worker's own NODE_ID and DATA_DIR; the config unchanged outside WORKERS > 1. */
export function workerConfig (config: Config): Config {
  const i = process.env[WORKER_ENV]
  if (config.WORKERS <= 1 || cluster.isPrimary || i === undefined) return config
  return { ...config, NODE_ID: `${config.NODE_ID}-w${i}`, DATA_DIR: join(config.DATA_DIR, `worker-${i}`) }
}
