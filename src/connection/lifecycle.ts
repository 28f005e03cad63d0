// Connection lifecycle, independent of Fastify: registration, the one cleanup,
// heartbeats and the drain at shutdown.
import type { Hub } from '../hub/hub.js'
import type { CanvasService, Logger } from '../canvas/canvas-service.js'
import { CloseCode, CloseReason } from '../protocol/errors.js'
import { Connection, type Principal, type Transport } from './connection.js'
import { createRegistry, type RegistryLimits } from './registry.js'

export interface LifecycleOptions extends RegistryLimits {
  hub: Hub<Connection>
  canvases: CanvasService<Connection>
  log: Logger
  heartbeatMs: number
}

export function createLifecycle (opts: LifecycleOptions) {
  const { hub, canvases, log } = opts
  const registry = createRegistry(opts)
  let draining = false
  let heartbeat: NodeJS.Timeout | null = null
  const idleWaiters = new Set<() => void>()

  function open (transport: Transport, user: Principal, canvasId: string, ip: string): Connection {
    const conn = new Connection(registry.nextId(), transport, user, canvasId, ip)
    registry.add(conn)
    return conn
  }

  /**
   * The only cleanup path; every way a socket can end leads here (close
   * event, error, terminate). Runs its body once per connection.
   */
  function cleanup (conn: Connection, code: number): void {
    if (!conn.markClosed(code)) return
    registry.remove(conn)
    hub.unsubscribeAll(conn)
    canvases.detach(conn)
    log.info({ conn: conn.id, user: conn.user.id, code: conn.closeCode, durationMs: Date.now() - conn.connectedAt, messagesIn: conn.messagesIn, messagesOut: conn.messagesOut }, 'connection closed')
    if (registry.size === 0) for (const resolve of idleWaiters) resolve()
  }

  function onPong (conn: Connection): void { conn.missedPongs = 0 }

  /** Ping everyone; a connection with two unanswered pings is ended (4012). */
  function beat (): void {
    for (const conn of registry.all()) {
      if (conn.missedPongs >= 2) {
        conn.close(CloseCode.HEARTBEAT_TIMEOUT, CloseReason[CloseCode.HEARTBEAT_TIMEOUT])
        // A dead peer never completes the close handshake: drop the socket.
        conn.transport.terminate()
        continue
      }
      conn.missedPongs++
      conn.transport.ping()
    }
  }

  function start (): void {
    heartbeat ??= setInterval(beat, opts.heartbeatMs)
  }

  /** Close every connection with `code`; resolve once all are gone or at the deadline, terminating the rest. */
  async function closeAll (code: number, deadlineMs: number): Promise<void> {
    if (heartbeat !== null) clearInterval(heartbeat)
    heartbeat = null
    for (const conn of registry.all()) conn.close(code, CloseReason[code as keyof typeof CloseReason] ?? 'closing')
    if (registry.size > 0) {
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, deadlineMs)
        idleWaiters.add(() => { clearTimeout(t); resolve() })
      })
    }
    for (const conn of [...registry.all()]) {
      conn.transport.terminate()
      cleanup(conn, code)
    }
  }

  return {
    registry,
    open,
    cleanup,
    onPong,
    start,
    closeAll,
    get draining () { return draining },
    startDraining () { draining = true }
  }
}

export type Lifecycle = ReturnType<typeof createLifecycle>
