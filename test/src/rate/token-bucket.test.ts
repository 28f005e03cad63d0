// The token buckets on a fake clock: fractional rates (a 5-minute cooldown),
// exact retryAfterMs, and a sweep that never forgets a cooldown.
import t from 'tap'
import { createTokenBuckets } from '../../../src/rate/token-bucket.js'

const FIVE_MIN = 5 * 60 * 1000

t.test('PIXEL_RATE 1/300 with burst 1: one pixel, then a 5-minute cooldown, then one more', async (t) => {
  const b = createTokenBuckets({ rate: 1 / 300, burst: 1 })
  t.same(b.take('u', 1, 0), { ok: true }, 'a new user has a full bucket')
  t.same(b.take('u', 1, 1000), { ok: false, retryAfterMs: FIVE_MIN - 1000 }, 'retryAfterMs: the rest of the cooldown')
  t.same(b.take('u', 1, FIVE_MIN - 1), { ok: false, retryAfterMs: 1 }, 'still refused 1 ms before')
  t.same(b.take('u', 1, FIVE_MIN), { ok: true }, 'allowed at exactly 5 minutes')
  t.same(b.take('u', 1, FIVE_MIN + 1), { ok: false, retryAfterMs: FIVE_MIN - 1 })
})

t.test('PIXEL_RATE 0.0033: coming back after exactly retryAfterMs passes', async (t) => {
  const b = createTokenBuckets({ rate: 0.0033, burst: 1 })
  t.same(b.take('u', 1, 1_000_000), { ok: true })
  const refused = b.take('u', 1, 1_000_000)
  t.same(refused, { ok: false, retryAfterMs: Math.ceil(1000 / 0.0033) }, '303031 ms, rounded up')
  if (refused.ok) return
  t.same(b.take('u', 1, 1_000_000 + refused.retryAfterMs), { ok: true })
  // Float-sensitive rates: the exact wait always suffices.
  for (const rate of [0.1, 0.3, 0.7, 1 / 3, 0.0001, 2.5]) {
    const c = createTokenBuckets({ rate, burst: 3 })
    c.take('k', 3, 7)
    const w = c.wait('k', 2, 7)
    t.same(c.take('k', 2, 7 + w), { ok: true }, `rate ${rate}: waiting ${w} ms is enough`)
  }
})

t.test('the sweep drops a bucket only once it is full again', async (t) => {
  const b = createTokenBuckets({ rate: 1 / 300, burst: 1 })
  b.take('u', 1, 0)
  b.sweep(FIVE_MIN - 1)
  t.equal(b.size, 1, 'a bucket still refilling is the cooldown: kept')
  t.equal(b.take('u', 1, FIVE_MIN - 1).ok, false, 'so the cooldown still holds after the sweep')
  b.sweep(FIVE_MIN)
  t.equal(b.size, 0, 'full again: forgotten')
  t.equal(b.level('u', FIVE_MIN), 1)
})

t.test('level and wait report without spending', async (t) => {
  const b = createTokenBuckets({ rate: 2, burst: 10 })
  t.equal(b.level('x', 0), 10)
  b.take('x', 10, 0)
  t.equal(b.level('x', 250), 0.5)
  t.equal(b.wait('x', 1, 250), 250)
  t.equal(b.wait('x', 1, 500), 0)
  t.equal(b.size, 1)
})

t.test('setLimits: every bucket keeps the tokens it has, cut to the new burst, and refills at the new rate', async (t) => {
  const b = createTokenBuckets({ rate: 10, burst: 100 })
  b.take('busy', 90, 0) // 10 left at t=0
  b.take('spent', 100, 0) // 0 left
  b.setLimits({ rate: 1 / 300, burst: 1 }, 1000) // busy: 20 by now, cut to 1; spent: 10, cut to 1
  t.equal(b.rate, 1 / 300)
  t.equal(b.burst, 1)
  t.equal(b.level('busy', 1000), 1)
  t.equal(b.level('new', 1000), 1, 'a user without a bucket is full under the new burst')
  t.same(b.take('busy', 1, 1000), { ok: true })
  const w = b.take('busy', 1, 1001)
  t.ok(!w.ok && w.retryAfterMs > FIVE_MIN - 10, 'then the new rate: a 5-minute cooldown')

  const c = createTokenBuckets({ rate: 1, burst: 10 })
  c.take('u', 10, 0)
  c.setLimits({ rate: 100, burst: 1000 }, 2000) // 2 tokens at the old rate, kept
  t.equal(c.level('u', 2000), 2, 'raising limits grants nothing at once')
  t.equal(c.level('u', 2010), 3, 'and refills at the new rate from the change on')
})
