// Bans by user (JWT sub), with an optional end. The state lives behind
// BanStore (SQLite here: src/persistence/moderation-store.ts; a cluster puts
// it in Redis); the effect on open connections is a `disconnect` event
// published on the user's topic, which every node's fan-out delivers to
// that user's connections wherever they are (src/hub/fanout.ts), never a
// scan of this node's connections.
import { userTopic, type Broker } from '../broker/broker.js'
import { Disconnect } from '../connection/disconnect.js'
import { DomainError } from '../domain-error.js'
import { isGuest } from '../auth/guest.js'

export interface Ban {
  user: string
  reason: string | null
  /** the admin's sub */
  by: string
  /** ms since the epoch */
  at: number
  /** ms since the epoch; null: until lifted */
  until: number | null
  /** the guest's address at ban time: no new guest token for it while the ban lasts */
  ip: string | null
}

/** Where bans are kept; every read takes `now` and sees only bans active then. */
export interface BanStore {
  put (ban: Ban): void
  /** true when an active ban was lifted */
  remove (user: string, now: number): boolean
  active (user: string, now: number): Ban | undefined
  list (now: number): Ban[]
  /** an active ban carrying this guest address */
  activeForIp (ip: string, now: number): Ban | undefined
  /** the address a guest's token was last issued or renewed from (kept about as long as a guest token lives) */
  rememberGuestIp (sub: string, ip: string, now: number, keepMs: number): void
  guestIp (sub: string): string | undefined
}

export interface BanRequest { user: string, seconds?: number, reason?: string }

export interface BansOptions {
  store: BanStore
  broker: Pick<Broker, 'publish'>
  /** how long a guest's issuing address is remembered (the guest token's lifetime) */
  guestIpKeepMs: number
  now?: () => number
}

export function createBans ({ store, broker, guestIpKeepMs, now = Date.now }: BansOptions) {
  return {
    /**
     * Ban `user` (replacing a ban it has: a new duration, a new reason) and
     * close every connection of it with 4403, on every node.
     * `extraIps`: addresses its connections on this node have, used when
     * no guest issuance was recorded.
     */
    ban (req: BanRequest, by: string, extraIps: Iterable<string> = []): Ban {
      if (req.user === by) throw new DomainError('conflict', 'CANNOT_BAN_SELF', 'an admin cannot ban themselves')
      const at = now()
      let ip: string | null = null
      if (isGuest(req.user)) ip = store.guestIp(req.user) ?? [...extraIps][0] ?? null
      const ban: Ban = { user: req.user, reason: req.reason ?? null, by, at, until: req.seconds === undefined ? null : at + req.seconds * 1000, ip }
      store.put(ban)
      broker.publish(userTopic(req.user), { type: 'disconnect', ...Disconnect.BANNED })
      return ban
    },
    /** Lift an active ban; BAN_NOT_FOUND (not_found) when there is none. */
    lift (user: string): void {
      if (!store.remove(user, now())) throw new DomainError('not_found', 'BAN_NOT_FOUND', `${user} is not banned`)
    },
    list: (): Ban[] => store.list(now()),
    /** The active ban of `user`, if any (handshake, in-band auth, token renewal). */
    of: (user: string): Ban | undefined => store.active(user, now()),
    /** The active ban of a guest that had this address, if any (guest token issuance). */
    ofIp: (ip: string): Ban | undefined => store.activeForIp(ip, now()),
    /** A guest token was issued or renewed to `sub` from `ip`. */
    guestIssued (sub: string, ip: string): void { store.rememberGuestIp(sub, ip, now(), guestIpKeepMs) }
  }
}

export type Bans = ReturnType<typeof createBans>

/** What a refusal says of a ban: "banned until <ISO>" or "banned". */
export function banMessage (ban: Ban): string {
  const until = ban.until === null ? '' : ` until ${new Date(ban.until).toISOString()}`
  return `banned${until}${ban.reason === null ? '' : `: ${ban.reason}`}`
}

/** The JSON view of a ban (REST). */
export function banView (ban: Ban) {
  return {
    user: ban.user,
    reason: ban.reason,
    by: ban.by,
    at: new Date(ban.at).toISOString(),
    until: ban.until === null ? null : new Date(ban.until).toISOString(),
    ip: ban.ip
  }
}
