// The client's copy of its pixel budget (the server's per-user token bucket,
// as `hello.limits` describes it), so draws wait here instead of being
// refused RATE_LIMITED.
//
// The server takes an op's tokens when it processes the op, which is later
// than when the client sent it. That only matters while the bucket is full
// (refill is capped: time spent full is refill lost): an op taken from a
// full bucket restarts the server's refill at its processing time, not at
// our send time. So for such an op the refill credited between the send and
// its pong (after the server processed it) is taken back when the pong
// arrives: the copy then never holds more than the server's bucket.

/** A little slower than the server's rate, so clock drift cannot cause refusals. */
export const LOCAL_RATE = 0.95

export class LocalBudget {
  private tokens: number
  private at: number
  private readonly rate: number

  /** `level`: tokens now (fractional); `rate` in pixels per second. */
  constructor (rate: number, readonly burst: number, level: number, now = Date.now()) {
    this.rate = rate * LOCAL_RATE
    this.tokens = Math.min(burst, Math.max(0, level))
    this.at = now
  }

  level (now = Date.now()): number {
    return Math.min(this.burst, this.tokens + (Math.max(0, now - this.at) * this.rate) / 1000)
  }

  /** ms until n tokens are there (0: now). */
  wait (n: number, now = Date.now()): number {
    const missing = n - this.level(now)
    return missing <= 1e-9 ? 0 : Math.ceil((missing * 1000) / this.rate)
  }

  /** Take n tokens (call when wait(n) is 0); true when the bucket was full (see settle). */
  take (n: number, now = Date.now()): boolean {
    const level = this.level(now)
    this.tokens = level - n
    this.at = now
    return level >= this.burst - 1e-9
  }

  /** The pong of an op taken from a full bucket at `sentAt` arrived: the refill since then was not the server's. */
  settle (sentAt: number, now = Date.now()): void {
    this.tokens = this.level(now) - (Math.max(0, now - sentAt) * this.rate) / 1000
    this.at = now
  }

  /** The server refused for the rate: nothing is there for `retryAfterMs`. */
  empty (retryAfterMs: number, now = Date.now()): void {
    this.tokens = -(retryAfterMs * this.rate) / 1000
    this.at = now
  }
}
