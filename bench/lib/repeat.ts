// `--repeat N` of the bench (bench/bench.ts): the pixelwire/(d) pair of a
// scenario run N times, alternating which server goes first, and each
// issue-11 target judged on the median of the N ratios instead of on one
// pair. The same build measured twice differs by 15-50% on a shared
// machine, so one pair says little; the median of alternating pairs is
// robust to one odd run and to drift over time (load coming and going hits
// both servers alike when neither always goes first). Pure functions, no I/O.

/** The order of pair `i` (0-based): `a` first in pairs 0, 2, 4, …, `b` first in 1, 3, 5, … */
export function pairOrder<T> (i: number, a: T, b: T): [T, T] {
  return i % 2 === 0 ? [a, b] : [b, a]
}

/** The orders of `n` pairs, in the order they run. */
export function pairOrders<T> (n: number, a: T, b: T): Array<[T, T]> {
  return Array.from({ length: n }, (_v, i) => pairOrder(i, a, b))
}

/** The ratios of all pairs (in the order they ran) and their median, min and max. */
export interface RatioSummary { ratios: number[], median: number, min: number, max: number }

/**
 * Median (the mean of the middle two for an even count), min and max of
 * the ratios. A NaN ratio (a run without that figure) makes all three NaN:
 * a broken run is not averaged away. Infinity (a zero denominator) sorts
 * as the largest.
 */
export function summarize (ratios: readonly number[]): RatioSummary {
  const all = [...ratios]
  if (all.length === 0 || all.some(Number.isNaN)) return { ratios: all, median: NaN, min: NaN, max: NaN }
  const sorted = [...all].sort((x, y) => x - y)
  const mid = sorted.length >> 1
  const median = sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2
  return { ratios: all, median, min: sorted[0], max: sorted[sorted.length - 1] }
}

/** A ratio against its limit: at least `limit` when `atLeast`, else at most; a non-finite ratio misses. */
export function meets (ratio: number, limit: number, atLeast: boolean): boolean {
  return Number.isFinite(ratio) && (atLeast ? ratio >= limit : ratio <= limit)
}

/** A target judged on the median of the pairs' ratios. */
export function meetsOnMedian (s: RatioSummary, limit: number, atLeast: boolean): boolean {
  return meets(s.median, limit, atLeast)
}

const fixed = (v: number, digits: number) => Number.isFinite(v) ? v.toFixed(digits) : '-'

/** "median of 5 pairs: 0.970x (0.880-1.210)", for the Targets table. */
export function describe (s: RatioSummary, digits = 3): string {
  if (Number.isNaN(s.median)) return `median of ${s.ratios.length} pairs: - (a pair without this figure: ${listRatios(s, digits)})`
  return `median of ${s.ratios.length} pairs: ${fixed(s.median, digits)}x (${fixed(s.min, digits)}-${fixed(s.max, digits)})`
}

/** The ratios as a list: "0.970, 0.880, 1.210". */
export function listRatios (s: RatioSummary, digits = 3): string {
  return s.ratios.map((r) => fixed(r, digits)).join(', ')
}
