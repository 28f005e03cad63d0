// A node's connections to the cluster's Redis (cluster mode, REDIS_URL).
//
// Two connections, because a blocking read (XREAD BLOCK) holds its
// connection until data comes or the block times out: `command` for
// everything that answers at once (the append script, reads, pings) and
// `reader` for the blocking reads alone.
//
// Fail fast, never queue: while a connection is down a command is refused
// at once (no offline queue), a command in flight when the connection drops
// is rejected, never resent (a resent append could be applied twice), and a
// command Redis does not answer within `commandTimeoutMs` fails. A caller
// therefore always learns within a bounded time that Redis did not take
// something, and answers UNAVAILABLE instead of showing it. Reconnection is
// automatic with a doubling backoff capped at `retryMaxMs`.
//
// Health is what a ping on `command` last said, asked every `healthMs`, and
// the state of both connections: `/health/ready` and the redis up metric
// read `health()`.
import { Redis, type RedisOptions } from 'ioredis'

export interface RedisLinkOptions {
  url: string
  commandTimeoutMs: number
  connectTimeoutMs: number
  retryMaxMs: number
  healthMs: number
  /** names the connections in CLIENT LIST (`pixelwire:<node>:command`) */
  nodeId: string
  log: { info (obj: object, msg?: string): void, warn (obj: object, msg?: string): void, error (obj: object, msg?: string): void }
}

export interface RedisLinkStats {
  /** connections (re)established after the first one, both connections counted */
  reconnects: number
  /** pings that failed or timed out */
  pingFailures: number
}

export interface RedisLink {
  readonly command: Redis
  readonly reader: Redis
  readonly stats: RedisLinkStats
  /** 'ok', or why Redis is not usable now (for readiness) */
  health (): 'ok' | string
  /** true when health() is 'ok' */
  readonly up: boolean
  /** Calls `fn` each time a connection becomes ready again after a loss (not the first time). */
  onReconnect (fn: () => void): void
  close (): Promise<void>
}

const FIRST_RETRY_MS = 50

/** The backoff: 50, 100, 200 ... ms, capped at `max`; never gives up. */
export function retryDelay (attempt: number, max: number): number {
  return Math.min(max, FIRST_RETRY_MS * 2 ** Math.min(attempt - 1, 20))
}

export function createRedisLink (o: RedisLinkOptions): RedisLink {
  const base: RedisOptions = {
    connectTimeout: o.connectTimeoutMs,
    commandTimeout: o.commandTimeoutMs,
    enableOfflineQueue: false,
    // Commands in flight when the connection drops are rejected at the first
    // retry instead of waiting for a reconnect...
    maxRetriesPerRequest: 0,
    // ...and never sent a second time.
    autoResendUnfulfilledCommands: false,
    retryStrategy: (attempt) => retryDelay(attempt, o.retryMaxMs),
    // Connect in the background: a node boots (and reports 503 naming redis) while Redis is down.
    lazyConnect: false
  }
  const command = new Redis(o.url, { ...base, connectionName: `pixelwire:${o.nodeId}:command` })
  // A blocking read legitimately lasts as long as its BLOCK argument: the
  // reader's commands carry their own deadlines (see the broker), so the
  // connection-wide one is off there.
  const reader = new Redis(o.url, { ...base, commandTimeout: undefined, connectionName: `pixelwire:${o.nodeId}:reader` })
  const stats: RedisLinkStats = { reconnects: 0, pingFailures: 0 }
  const reconnectListeners: Array<() => void> = []
  let lastPing: 'ok' | string = 'not connected yet'
  let closing = false

  for (const [name, conn] of [['command', command], ['reader', reader]] as const) {
    let everReady = false
    let lostLogged = false
    conn.on('ready', () => {
      if (everReady) {
        stats.reconnects++
        o.log.info({ connection: name }, 'redis connection back')
        for (const fn of reconnectListeners) fn()
      }
      everReady = true
      lostLogged = false
    })
    // ioredis emits 'error' for every failed attempt: log the first of a
    // loss only (an outage must not flood the log), the rest are in the metrics.
    conn.on('error', (err: Error) => {
      if (closing || lostLogged) return
      lostLogged = true
      o.log.error({ connection: name, err: err.message }, 'redis connection failing; retrying with backoff')
    })
    conn.on('close', () => {
      if (closing || !everReady || lostLogged) return
      lostLogged = true
      o.log.error({ connection: name }, 'redis connection lost; retrying with backoff')
    })
  }

  async function ping (): Promise<void> {
    try {
      await command.ping()
      lastPing = 'ok'
    } catch (err) {
      stats.pingFailures++
      lastPing = `ping failed: ${(err as Error).message}`
    }
  }
  const timer = setInterval(ping, o.healthMs) // ping never rejects
  timer.unref()
  command.on('ready', ping)

  function health (): 'ok' | string {
    if (command.status !== 'ready') return `redis ${command.status}`
    if (reader.status !== 'ready') return `redis reader ${reader.status}`
    return lastPing
  }

  return {
    command,
    reader,
    stats,
    health,
    get up () { return health() === 'ok' },
    onReconnect (fn) { reconnectListeners.push(fn) },
    async close () {
      closing = true
      clearInterval(timer)
      // The reader may sit in a blocking read: nothing of it to wait for.
      reader.disconnect()
      // quit waits for the command replies in flight; disconnect when Redis is gone.
      if (command.status === 'ready') {
        try {
          await command.quit()
          return
        } catch {} // falls through to disconnect
      }
      command.disconnect()
    }
  }
}
