// Per-key token buckets (the per-user pixel budget, shared by all of a
// user's connections). Refilled lazily on use; memory is bounded because a
// bucket that has refilled to full carries no information and is swept.

export interface BucketOptions {
  /** tokens per second */
  rate: number
  /** bucket size */
  burst: number
}

export type Take = { ok: true } | { ok: false, retryAfterMs: number }

interface Bucket { tokens: number, at: number }

export function createTokenBuckets ({ rate, burst }: BucketOptions) {
  const buckets = new Map<string, Bucket>()

  function level (b: Bucket, now: number): number {
    return Math.min(burst, b.tokens + ((now - b.at) * rate) / 1000)
  }

  return {
    burst,
    /**
     * Take n tokens for key, all or nothing. n > burst can never succeed:
     * callers must check that first (it is a TOO_LARGE, not a wait).
     */
    take (key: string, n: number, now = Date.now()): Take {
      const b = buckets.get(key)
      const tokens = b === undefined ? burst : level(b, now)
      if (tokens >= n) {
        buckets.set(key, { tokens: tokens - n, at: now })
        return { ok: true }
      }
      return { ok: false, retryAfterMs: Math.ceil(((n - tokens) * 1000) / rate) }
    },
    /** Forget buckets that are full again. */
    sweep (now = Date.now()): void {
      for (const [key, b] of buckets) if (level(b, now) >= burst) buckets.delete(key)
    },
    get size () { return buckets.size }
  }
}

export type TokenBuckets = ReturnType<typeof createTokenBuckets>

/** What a user of the pixel budget needs (the session): any store of buckets, local or shared, provides it. */
export interface PixelBudget {
  /** the bucket size: an op larger than this can never pass */
  readonly burst: number
  take (key: string, n: number): Take
}

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
