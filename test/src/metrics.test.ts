// LocalHistogram: le buckets (inclusive upper bounds), sum and count as
// plain numbers; its exposition is compared with prom-client's in
// test/routes/metrics.test.ts.
import t from 'tap'
import { LocalHistogram } from '../../src/metrics.js'

t.test('each value lands in the first bucket whose bound is at or above it; past the last, in +Inf', async (t) => {
  const h = new LocalHistogram([1, 2, 5])
  for (const v of [0, 1, 1.5, 2, 4.99, 5, 5.01, 100]) h.observe(v)
  t.same(h.counts, [2, 2, 2, 2])
  t.equal(h.count, 8)
  t.equal(h.sum, 0 + 1 + 1.5 + 2 + 4.99 + 5 + 5.01 + 100)
})

t.test('bounds must ascend strictly', async (t) => {
  t.throws(() => new LocalHistogram([1, 1]), /ascending/)
  t.throws(() => new LocalHistogram([2, 1]), /ascending/)
  t.doesNotThrow(() => new LocalHistogram([]))
})
