// Per-key token buckets (the per-user pixel budget, shared by all of a
// user's connections). Refilled lazily on use; memory is bounded because a
// bucket that has refilled to full carries no information and is swept.
// The rate may be fractional (0.0033/s is one pixel per ~5 minutes): nothing
// here assumes whole tokens per second or whole tokens in a bucket.

export interface BucketOptions {
  /** tokens per second, any positive number */
  rate: number
  /** bucket size */
  burst: number
}

export type Take = { ok: true } | { ok: false, retryAfterMs: number }

interface Bucket { tokens: number, at: number }

/**
 * Float slack: a client that comes back exactly retryAfterMs later must pass,
 * even when tokens + elapsed × rate rounds to 0.9999999999 of a pixel.
 */
const EPSILON = 1e-9

export function createTokenBuckets (opts: BucketOptions) {
  const buckets = new Map<string, Bucket>()
  let { rate, burst } = opts

  function level (b: Bucket | undefined, now: number): number {
    if (b === undefined) return burst
    return Math.min(burst, b.tokens + (Math.max(0, now - b.at) * rate) / 1000)
  }

  /** ms until n tokens are there: 0 when they are now; whole ms, rounded up, so waiting that long suffices. */
  function wait (key: string, n: number, now = Date.now()): number {
    const missing = n - level(buckets.get(key), now)
    if (missing <= EPSILON) return 0
    return Math.min(Number.MAX_SAFE_INTEGER, Math.max(1, Math.ceil((missing * 1000) / rate)))
  }

  return {
    get rate (): number { return rate },
    get burst (): number { return burst },
    /**
     * New limits, at once (live settings). Each bucket keeps the tokens it
     * has now (counted at the old rate up to now), cut to the new burst,
     * and refills at the new rate from now on: lowering the rate hands out
     * nothing and takes nothing back; a user in a cooldown keeps what they
     * had. A full bucket (or none) is full under the new burst too.
     */
    setLimits (next: BucketOptions, now = Date.now()): void {
      for (const b of buckets.values()) {
        b.tokens = Math.min(next.burst, level(b, now))
        b.at = now
      }
      rate = next.rate
      burst = next.burst
    },
    /** Tokens in key's bucket now (fractional; burst for a key never seen or swept). */
    level: (key: string, now = Date.now()): number => level(buckets.get(key), now),
    wait,
    /**
     * Take n tokens for key, all or nothing. n > burst can never succeed:
     * callers must check that first (it is a TOO_LARGE, not a wait).
     */
    take (key: string, n: number, now = Date.now()): Take {
      const retryAfterMs = wait(key, n, now)
      if (retryAfterMs > 0) return { ok: false, retryAfterMs }
      buckets.set(key, { tokens: Math.max(0, level(buckets.get(key), now) - n), at: now })
      return { ok: true }
    },
    /**
     * Set key's bucket to `tokens` as of `now` (cluster mode: the level the
     * cluster's bucket has, src/rate/cluster-budget.ts). May be negative (a
     * debt: pixels other nodes let through before they heard of each other)
     * and is capped at burst.
     */
    set (key: string, tokens: number, now = Date.now()): void {
      buckets.set(key, { tokens: Math.min(burst, tokens), at: now })
    },
    /**
     * Forget buckets that are full again, and only those: a bucket still
     * refilling is the cooldown itself (dropping it would hand out a full burst).
     */
    sweep (now = Date.now()): void {
      for (const [key, b] of buckets) if (level(b, now) >= burst - EPSILON) buckets.delete(key)
    },
    get size () { return buckets.size }
  }
}

export type TokenBuckets = ReturnType<typeof createTokenBuckets>

/** Counts events in fixed windows; `hit` returns the count in the current one. */
export class WindowCounter {
  private count = 0
  private start = 0
  constructor (private readonly windowMs: number) {}

  hit (now = Date.now()): number {
    if (now - this.start >= this.windowMs) {
      this.start = now
      this.count = 0
    }
    return ++this.count
  }
}
