// Live connections (not requests), with the counts that admission checks use.
import type { ConnId } from '../hub/hub.js'
import type { Connection } from './connection.js'

export interface RegistryLimits {
  maxConnections: number
  maxPerIp: number
  maxPerUser: number
}

export type Refusal = { status: 503 | 429, error: string, message: string, retryAfterSec: number }

export function createRegistry (limits: RegistryLimits) {
  const byId = new Map<ConnId, Connection>()
  const perIp = new Map<string, number>()
  const perUser = new Map<string, number>()
  let lastId = 0

  const bump = (m: Map<string, number>, k: string, d: number) => {
    const n = (m.get(k) ?? 0) + d
    if (n <= 0) m.delete(k)
    else m.set(k, n)
  }

  return {
    /** u32 ids that skip ones still in use, so CURSORS can carry them. */
    nextId (): ConnId {
      do lastId = lastId >= 0xffffffff ? 1 : lastId + 1
      while (byId.has(lastId))
      return lastId
    },
    /** Checked before the upgrade. */
    admit (ip: string, user: string): Refusal | null {
      if (byId.size >= limits.maxConnections) return { status: 503, error: 'UNAVAILABLE', message: 'connection limit reached', retryAfterSec: 5 }
      if ((perIp.get(ip) ?? 0) >= limits.maxPerIp) return { status: 429, error: 'TOO_MANY_CONNECTIONS', message: 'too many connections from this address', retryAfterSec: 10 }
      if ((perUser.get(user) ?? 0) >= limits.maxPerUser) return { status: 429, error: 'TOO_MANY_CONNECTIONS', message: 'too many connections for this user', retryAfterSec: 10 }
      return null
    },
    add (conn: Connection): void {
      byId.set(conn.id, conn)
      bump(perIp, conn.ip, 1)
      bump(perUser, conn.user.id, 1)
    },
    /** True only the first time for a given connection. */
    remove (conn: Connection): boolean {
      if (byId.get(conn.id) !== conn) return false
      byId.delete(conn.id)
      bump(perIp, conn.ip, -1)
      bump(perUser, conn.user.id, -1)
      return true
    },
    get: (id: ConnId) => byId.get(id),
    all: () => byId.values(),
    get size () { return byId.size }
  }
}

export type Registry = ReturnType<typeof createRegistry>
