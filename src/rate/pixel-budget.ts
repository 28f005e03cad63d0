// The pixel budget: a user's token bucket, shared by all of the user's
// connections, and for guests also one per client IP, since guest tokens
// are free to mint (without it, each new guest token is a fresh full burst).
// One call per draw op (a batch of pixels), never per pixel, so a shared
// store (Redis) can implement the same interface in one round trip each.
import { isGuest } from '../auth/guest.js'
import { createTokenBuckets, type Take } from './token-bucket.js'

/** Who spends: the user, and the IP the connection came from. */
export interface Spender { user: string, ip: string }

/** An op larger than the bucket can never pass: TOO_LARGE, not a wait. */
export type Spend = Take | { ok: false, burst: number }

export interface BudgetState {
  /** the rate (pixels/s, may be fractional) and bucket size that bound this spender */
  pixelRate: number
  pixelBurst: number
  /** whole pixels this spender may draw now */
  pixelsAvailable: number
  /** ms until the next pixel is allowed; 0 when pixelsAvailable ≥ 1 */
  nextPixelInMs: number
}

/** What a user of the pixel budget needs (the session, hello): any store of buckets, local or shared, provides it. */
export interface PixelBudget {
  /** Spend n pixels of every bucket that bounds this spender, all or nothing. */
  take (who: Spender, n: number): Spend
  /** The spender's budget now, without spending. */
  state (who: Spender): BudgetState
  /** Cluster mode: fetch the user's budget from the cluster before a connection's hello (absent: nothing to fetch). */
  load? (user: string): Promise<void>
  /** New rates and bursts at once (live settings), for every bucket held. */
  setLimits (next: PixelBudgetOptions): void
}

export interface PixelBudgetOptions {
  rate: number
  burst: number
  /** per client IP, for guests only */
  guestIpRate: number
  guestIpBurst: number
}

export function createPixelBudget (opts: PixelBudgetOptions) {
  const users = createTokenBuckets({ rate: opts.rate, burst: opts.burst })
  const ips = createTokenBuckets({ rate: opts.guestIpRate, burst: opts.guestIpBurst })

  return {
    take (who: Spender, n: number, now = Date.now()): Spend {
      const guest = isGuest(who.user)
      const burst = guest ? Math.min(users.burst, ips.burst) : users.burst
      if (n > burst) return { ok: false, burst }
      // Both buckets are checked before either is spent: a refused op costs nothing.
      const retryAfterMs = Math.max(users.wait(who.user, n, now), guest ? ips.wait(who.ip, n, now) : 0)
      if (retryAfterMs > 0) return { ok: false, retryAfterMs }
      users.take(who.user, n, now)
      if (guest) ips.take(who.ip, n, now)
      return { ok: true }
    },
    state (who: Spender, now = Date.now()): BudgetState {
      const guest = isGuest(who.user)
      const nextPixelInMs = Math.max(users.wait(who.user, 1, now), guest ? ips.wait(who.ip, 1, now) : 0)
      const level = Math.min(users.level(who.user, now), guest ? ips.level(who.ip, now) : Infinity)
      return {
        pixelRate: guest ? Math.min(users.rate, ips.rate) : users.rate,
        pixelBurst: guest ? Math.min(users.burst, ips.burst) : users.burst,
        // floor with the buckets' own float slack: 0.9999999999 after an exact wait is a pixel
        pixelsAvailable: nextPixelInMs > 0 ? 0 : Math.max(1, Math.floor(level + 1e-9)),
        nextPixelInMs
      }
    },
    /** Set a user's bucket (cluster mode: to the cluster's level, src/rate/cluster-budget.ts). */
    setUser (user: string, tokens: number, now = Date.now()): void { users.set(user, tokens, now) },
    /** Forget full buckets (they carry no information); a refilling one is a cooldown and stays. */
    sweep (now = Date.now()): void {
      users.sweep(now)
      ips.sweep(now)
    },
    /** Live settings: new rates and bursts for every bucket (see TokenBuckets.setLimits). */
    setLimits (next: PixelBudgetOptions, now = Date.now()): void {
      users.setLimits({ rate: next.rate, burst: next.burst }, now)
      ips.setLimits({ rate: next.guestIpRate, burst: next.guestIpBurst }, now)
    },
    get size () { return users.size + ips.size }
  }
}

export type LocalPixelBudget = ReturnType<typeof createPixelBudget>
