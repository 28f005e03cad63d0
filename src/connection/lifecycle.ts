// Connection lifecycle, independent of Fastify: registration, the one cleanup,
// heartbeats, the deadlines of slow consumers, expired tokens and storage
// trouble, and the drain at shutdown. The per-connection state of those
// watches lives here, in maps by connection id that hold only the
// connections concerned (a ping in flight, a buffer over the cap, draws
// failing), not in fields other modules could write on Connection.
import type { Hub, ConnId } from '../hub/hub.js'
import type { Logger } from '../canvas/canvas-service.js'
import { Connection, type ConnectionLimits, type Principal, type Transport } from './connection.js'
import { Disconnect, type DisconnectReason } from './disconnect.js'
import { createRegistry, type IdSource, type RegistryLimits, type Reservation } from './registry.js'
import { bump, closeLabel, noopMeter } from '../metrics.js'

/** Most slices a heartbeat period is spread over (one a second by default: 25 s, 25 slices). */
const HEARTBEAT_SLICES = 25

export interface LifecycleOptions extends RegistryLimits, ConnectionLimits {
  hub: Hub<Connection>
  log: Logger
  heartbeatMs: number
  /** heartbeats are spread over slices of about this long (default 1 s; at most 25 slices) */
  heartbeatSliceMs?: number
  /** how long a connection may stay over sendBufferBytes before 4008 */
  slowClientTimeoutMs: number
  /** tolerance after a token's exp before 4401 */
  tokenGraceMs: number
  /** how long a connection's draws may keep being answered UNAVAILABLE before 1013 (0: never) */
  unavailableCloseMs?: number
  /** distinct close codes outside the documented ones that metrics label by value (default 32) */
  closeCodeLabels?: number
  /** connection ids (cluster mode: cluster-unique blocks); default: the registry's own counter */
  ids?: IdSource
}

export function createLifecycle (opts: LifecycleOptions) {
  const { hub, log } = opts
  const counts = (opts.meter ?? noopMeter).counts
  const unavailableCloseMs = opts.unavailableCloseMs ?? 0
  const closeCodeLabels = opts.closeCodeLabels ?? 32
  /** what other services forget about a connection when it ends; run before the hub lets go */
  const cleanupHooks: Array<(conn: Connection) => void> = []
  const registry = createRegistry(opts, opts.ids)
  let draining = false
  let heartbeat: NodeJS.Timeout | null = null
  let sweeper: NodeJS.Timeout | null = null
  // Fine enough to honour the slow-client deadline, coarse enough to cost nothing.
  const sweepMs = Math.max(50, Math.min(1000, Math.floor(opts.slowClientTimeoutMs / 4)))
  const idleWaiters = new Set<() => void>()
  /** heartbeats sent without a pong since, for connections with a ping in flight */
  const missedPongs = new Map<ConnId, number>()
  /** since when pending output has been over the cap, for connections over it */
  const overSince = new Map<ConnId, number>()
  /** the first and the latest UNAVAILABLE answer of a run of them with no committed draw in between */
  const unavailable = new Map<ConnId, { since: number, last: number }>()
  // Heartbeats are spread: every heartbeatMs / slices, the connections whose
  // id mod slices is that slice are pinged, so each is still pinged once per
  // heartbeatMs, but 10,000 pings (~120 ms of writes) never go out in one
  // go: that stalled every tick for ~400 ms at saturation (bench/results).
  const slices = Math.max(1, Math.min(HEARTBEAT_SLICES, Math.round(opts.heartbeatMs / (opts.heartbeatSliceMs ?? 1000))))
  let slice = 0

  function open (transport: Transport, user: Principal, canvasId: string, reservation: Reservation): Connection {
    const conn = new Connection(reservation.id, transport, user, canvasId, reservation.ip, opts)
    registry.add(conn, reservation)
    counts.connectionsAccepted++
    return conn
  }

  /**
   * The only cleanup path; every way a socket can end leads here (close
   * event, error, terminate). Runs its body once per connection. `code` is
   * what the transport saw; the code of a close we started wins over it.
   */
  function cleanup (conn: Connection, code: number): void {
    if (!conn.markClosed(code)) return
    registry.remove(conn)
    missedPongs.delete(conn.id)
    overSince.delete(conn.id)
    unavailable.delete(conn.id)
    for (const hook of cleanupHooks) {
      try {
        hook(conn)
      } catch (err) {
        log.error({ err, conn: conn.id }, 'cleanup hook failed')
      }
    }
    hub.unsubscribeAll(conn)
    bump(counts.closes, closeLabel(conn.closeCode ?? code, counts.closes, closeCodeLabels))
    log.info({ conn: conn.id, user: conn.user.id, code: conn.closeCode, durationMs: Date.now() - conn.connectedAt, messagesIn: conn.messagesIn, messagesOut: conn.messagesOut }, 'connection closed')
    if (registry.size === 0) for (const resolve of idleWaiters) resolve()
  }

  function onPong (conn: Connection): void { missedPongs.delete(conn.id) }

  /** Ping this slice of connections; a connection with two unanswered pings is ended (4012). */
  function beat (): void {
    const due = slice
    slice = (slice + 1) % slices
    for (const conn of registry.all()) {
      if (conn.id % slices !== due) continue
      const missed = missedPongs.get(conn.id) ?? 0
      if (missed >= 2) {
        // A no-op if a close already started: that first reason stays.
        conn.close(Disconnect.HEARTBEAT_TIMEOUT)
        // A dead peer never completes the close handshake: drop the socket.
        conn.transport.terminate()
        continue
      }
      missedPongs.set(conn.id, missed + 1)
      conn.transport.ping()
    }
  }

  /**
   * Deadlines that are not tied to a message: a send buffer over the cap
   * for too long (4008), a token past exp that was not replaced (4401).
   */
  function sweep (now = Date.now()): void {
    for (const conn of registry.all()) {
      if (conn.user.exp > 0 && now > conn.user.exp * 1000 + opts.tokenGraceMs) {
        conn.close(Disconnect.TOKEN_EXPIRED)
        continue
      }
      const since = overSince.get(conn.id)
      if (conn.bufferedBytes <= opts.sendBufferBytes) {
        if (since !== undefined) overSince.delete(conn.id)
      } else if (since === undefined) {
        overSince.set(conn.id, now)
      } else if (now - since >= opts.slowClientTimeoutMs) {
        log.warn({ conn: conn.id, user: conn.user.id, bufferedBytes: conn.bufferedBytes }, 'slow consumer closed')
        counts.slowConsumerCloses++
        conn.close(Disconnect.SLOW_CONSUMER)
        // It is not reading, so it will not answer the close either: free its buffers now.
        conn.transport.terminate()
      }
    }
  }

  /**
   * A draw of `conn` was answered UNAVAILABLE (storage failing, canvas
   * busy). Once such answers have kept coming for unavailableCloseMs, with
   * no draw of its committed in between, it is closed with 1013: told to
   * come back later rather than left guessing. A pause longer than
   * unavailableCloseMs between two of them starts a new run.
   */
  function drawUnavailable (conn: Connection, now = Date.now()): void {
    if (unavailableCloseMs <= 0 || conn.state !== 'open') return
    const run = unavailable.get(conn.id)
    if (run === undefined || now - run.last > unavailableCloseMs) {
      unavailable.set(conn.id, { since: now, last: now })
      return
    }
    run.last = now
    if (now - run.since < unavailableCloseMs) return
    log.warn({ conn: conn.id, user: conn.user.id, failingMs: now - run.since }, 'draws unavailable for too long; closing with 1013')
    conn.close(Disconnect.TRY_AGAIN_LATER)
  }

  /** Draws of these connections were committed (ok) or refused by storage (not ok). */
  function drawsCommitted (runs: Iterable<{ readonly connId: ConnId }>, ok: boolean, now = Date.now()): void {
    if (ok) {
      if (unavailable.size === 0) return
      for (const run of runs) unavailable.delete(run.connId)
      return
    }
    for (const run of runs) {
      const conn = registry.get(run.connId)
      if (conn !== undefined) drawUnavailable(conn, now)
    }
  }

  function start (): void {
    heartbeat ??= setInterval(beat, opts.heartbeatMs / slices)
    sweeper ??= setInterval(sweep, sweepMs)
  }

  function stopTimers (): void {
    if (heartbeat !== null) clearInterval(heartbeat)
    if (sweeper !== null) clearInterval(sweeper)
    heartbeat = sweeper = null
  }

  /** Close every connection with `d`; resolve once all are gone or at the deadline, terminating the rest. */
  async function closeAll (d: DisconnectReason, deadlineMs: number): Promise<void> {
    stopTimers()
    for (const conn of registry.all()) conn.close(d)
    if (registry.size > 0) {
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, deadlineMs)
        idleWaiters.add(() => { clearTimeout(t); resolve() })
      })
    }
    for (const conn of [...registry.all()]) {
      conn.transport.terminate()
      cleanup(conn, d.code)
    }
  }

  return {
    registry,
    open,
    cleanup,
    /** Register what must happen once when any connection ends. */
    onCleanup (hook: (conn: Connection) => void): void { cleanupHooks.push(hook) },
    onPong,
    drawUnavailable,
    drawsCommitted,
    start,
    stopTimers,
    sweep,
    closeAll,
    /** connections currently tracked by the heartbeat, slow-consumer and storage watches (leak checks) */
    watched: () => ({ pings: missedPongs.size, over: overSince.size, unavailable: unavailable.size }),
    get draining () { return draining },
    startDraining () { draining = true }
  }
}

export type Lifecycle = ReturnType<typeof createLifecycle>
