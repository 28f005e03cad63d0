// Live connections (not requests), with the counts that admission checks use.
import type { ConnId } from '../hub/hub.js'
import type { Connection } from './connection.js'

export interface RegistryLimits {
  maxConnections: number
  maxPerIp: number
  maxPerUser: number
}

export type Refusal = { status: 503 | 429, error: string, message: string, retryAfterSec: number }

/**
 * A slot held between the handshake check and the upgrade, so a burst of
 * concurrent handshakes cannot all pass the same check. Consumed by add(),
 * or given back by release() (idempotent) when the upgrade never happens.
 */
export interface Reservation { readonly id: ConnId, readonly ip: string, readonly user: string, release (): void }

/**
 * Where connection ids come from: by default this registry's own u32
 * counter; in cluster mode blocks of cluster-unique ids (src/broker/cluster.ts),
 * null when none is at hand (Redis unreachable), which refuses the handshake.
 */
export type IdSource = () => ConnId | null

export function createRegistry (initial: RegistryLimits, ids?: IdSource) {
  /** live settings may change them: a lower cap refuses new connections, it closes none */
  const limits: RegistryLimits = { maxConnections: initial.maxConnections, maxPerIp: initial.maxPerIp, maxPerUser: initial.maxPerUser }

  // perIp and perUser count live connections plus reservations.
  const byId = new Map<ConnId, Connection>()
  const perIp = new Map<string, number>()
  const perUser = new Map<string, number>()
  let lastId = 0
  let reserved = 0
  const consumed = new WeakSet<Reservation>()

  const bump = (m: Map<string, number>, k: string, d: number) => {
    const n = (m.get(k) ?? 0) + d
    if (n <= 0) m.delete(k)
    else m.set(k, n)
  }

  /** u32 ids that skip ones still in use, so CURSORS can carry them; null: none at hand (cluster mode). */
  function nextId (): ConnId | null {
    if (ids !== undefined) {
      let id: ConnId | null
      do id = ids()
      while (id !== null && byId.has(id))
      return id
    }
    do lastId = lastId >= 0xffffffff ? 1 : lastId + 1
    while (byId.has(lastId))
    return lastId
  }

  return {
    /** Checked before the upgrade; on success the slot is held until add() or release(). */
    reserve (ip: string, user: string): Refusal | Reservation {
      if (byId.size + reserved >= limits.maxConnections) return { status: 503, error: 'UNAVAILABLE', message: 'connection limit reached', retryAfterSec: 5 }
      if ((perIp.get(ip) ?? 0) >= limits.maxPerIp) return { status: 429, error: 'TOO_MANY_CONNECTIONS', message: 'too many connections from this address', retryAfterSec: 10 }
      if ((perUser.get(user) ?? 0) >= limits.maxPerUser) return { status: 429, error: 'TOO_MANY_CONNECTIONS', message: 'too many connections for this user', retryAfterSec: 10 }
      const id = nextId()
      if (id === null) return { status: 503, error: 'UNAVAILABLE', message: 'no connection id at hand (the cluster is unavailable)', retryAfterSec: 5 }
      reserved++
      bump(perIp, ip, 1)
      bump(perUser, user, 1)
      const r: Reservation = {
        id,
        ip,
        user,
        release () {
          if (consumed.has(r)) return
          consumed.add(r)
          reserved--
          bump(perIp, ip, -1)
          bump(perUser, user, -1)
        }
      }
      return r
    },
    /** Register an upgraded connection in the slot its handshake reserved. */
    add (conn: Connection, r: Reservation): void {
      if (consumed.has(r)) throw new Error('reservation already used or released')
      if (r.ip !== conn.ip || r.user !== conn.user.id) throw new Error('reservation is for another ip or user')
      consumed.add(r)
      reserved--
      byId.set(conn.id, conn)
    },
    /** True only the first time for a given connection. */
    remove (conn: Connection): boolean {
      if (byId.get(conn.id) !== conn) return false
      byId.delete(conn.id)
      bump(perIp, conn.ip, -1)
      bump(perUser, conn.user.id, -1)
      return true
    },
    setLimits (next: RegistryLimits): void { Object.assign(limits, next) },
    get limits (): Readonly<RegistryLimits> { return limits },
    get: (id: ConnId) => byId.get(id),
    /** connections and reservations of one user on this node */
    ofUser: (user: string) => perUser.get(user) ?? 0,
    /** connections and reservations per user on this node (the cluster's counts) */
    perUser: () => perUser.entries(),
    all: () => byId.values(),
    get size () { return byId.size },
    get reserved () { return reserved }
  }
}

export type Registry = ReturnType<typeof createRegistry>
