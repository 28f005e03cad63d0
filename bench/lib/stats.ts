// Shared by the bench orchestrator and its load-generator processes: a
// mergeable latency histogram and a clock every process on this machine agrees on.

/**
 * Milliseconds on CLOCK_MONOTONIC, the same in every process of this
 * machine (process.hrtime and performance.now both read it; performance.now
 * only subtracts this process's start). So a painter's send time and a
 * receiver's receipt time, in different processes, can be subtracted.
 */
const offset = Number(process.hrtime.bigint()) / 1e6 - performance.now()
export const clockMs = () => performance.now() + offset

/**
 * A pixel's send time travels in its colour: 24 bits of 0.1 ms, wrapping
 * every ~28 minutes (far longer than any latency measured).
 */
export const stampNow = () => Math.floor(clockMs() * 10) & 0xffffff
export const ageMs = (stamp: number, nowStamp: number) => {
  const d = (nowStamp - stamp) & 0xffffff
  return d >= 0x800000 ? 0 : d / 10 // "negative": the two processes' clock offsets differ by a few µs
}

/**
 * Latency histogram: 0.1 ms buckets to 100 ms, 1 ms buckets to 120 s (beyond
 * lands in the last). O(1) add, bounded memory, mergeable across processes.
 */
const FINE = 1000
const SIZE = FINE + 120_000
export class Histogram {
  readonly buckets = new Uint32Array(SIZE)
  count = 0
  max = 0
  add (ms: number): void {
    const i = ms < 100 ? Math.max(0, Math.round(ms * 10)) : Math.min(SIZE - 1, FINE + Math.round(ms - 100))
    this.buckets[i]++
    this.count++
    if (ms > this.max) this.max = ms
  }

  static valueOf (i: number): number { return i < FINE ? i / 10 : 100 + (i - FINE) }

  quantile (q: number): number {
    let seen = 0
    for (let i = 0; i < SIZE && this.count > 0; i++) if ((seen += this.buckets[i]) >= q * this.count) return Histogram.valueOf(i)
    return NaN
  }

  /** Non-empty buckets as [index, count] pairs (small enough for IPC). */
  toJSON (): { sparse: number[], count: number, max: number } {
    const sparse: number[] = []
    for (let i = 0; i < SIZE; i++) if (this.buckets[i] !== 0) sparse.push(i, this.buckets[i])
    return { sparse, count: this.count, max: this.max }
  }

  merge (h: { sparse: number[], count: number, max: number }): void {
    for (let i = 0; i < h.sparse.length; i += 2) this.buckets[h.sparse[i]] += h.sparse[i + 1]
    this.count += h.count
    this.max = Math.max(this.max, h.max)
  }
}
