// The pixel budget: per user, and for guests also per IP, all or nothing
// across both buckets; state() is what hello.limits shows.
import t from 'tap'
import { createPixelBudget } from '../../../src/rate/pixel-budget.js'

const opts = { rate: 1, burst: 10, guestIpRate: 2, guestIpBurst: 15 }

t.test('guests of one IP share its bucket; users with tokens of their own do not', async (t) => {
  const b = createPixelBudget(opts)
  t.same(b.take({ user: 'guest:a', ip: '10.0.0.1' }, 10, 0), { ok: true })
  t.same(b.take({ user: 'guest:b', ip: '10.0.0.1' }, 10, 0), { ok: false, retryAfterMs: 2500 }, 'the IP bucket has 5 left: wait for 5 more at 2/s')
  t.same(b.take({ user: 'guest:b', ip: '10.0.0.1' }, 5, 0), { ok: true })
  t.same(b.take({ user: 'guest:c', ip: '10.0.0.2' }, 10, 0), { ok: true }, 'another IP has its own')
  t.same(b.take({ user: 'alice', ip: '10.0.0.1' }, 10, 0), { ok: true }, 'a non-guest is not bounded per IP')
  t.same(b.take({ user: 'bob', ip: '10.0.0.1' }, 10, 0), { ok: true })
})

t.test('a refused op spends nothing from either bucket', async (t) => {
  const b = createPixelBudget(opts)
  b.take({ user: 'guest:a', ip: 'ip' }, 8, 0) // user 2 left, IP 7 left
  t.equal(b.take({ user: 'guest:a', ip: 'ip' }, 5, 0).ok, false, 'the user bucket refuses')
  t.same(b.take({ user: 'guest:b', ip: 'ip' }, 7, 0), { ok: true }, '...and the IP bucket was not charged for it')
})

t.test('TOO_LARGE: beyond the smaller burst that applies', async (t) => {
  const b = createPixelBudget({ rate: 1, burst: 10, guestIpRate: 1, guestIpBurst: 4 })
  t.same(b.take({ user: 'guest:a', ip: 'ip' }, 5, 0), { ok: false, burst: 4 })
  t.same(b.take({ user: 'alice', ip: 'ip' }, 11, 0), { ok: false, burst: 10 })
  t.same(b.take({ user: 'alice', ip: 'ip' }, 10, 0), { ok: true })
})

t.test('state: pixels available now and when the next one is allowed', async (t) => {
  const b = createPixelBudget({ rate: 0.0033, burst: 1, guestIpRate: 0.0033, guestIpBurst: 1 })
  const me = { user: 'guest:a', ip: 'ip' }
  t.same(b.state(me, 0), { pixelRate: 0.0033, pixelBurst: 1, pixelsAvailable: 1, nextPixelInMs: 0 })
  b.take(me, 1, 0)
  t.same(b.state(me, 0), { pixelRate: 0.0033, pixelBurst: 1, pixelsAvailable: 0, nextPixelInMs: 303031 })
  t.same(b.state({ user: 'guest:b', ip: 'ip' }, 1), { pixelRate: 0.0033, pixelBurst: 1, pixelsAvailable: 0, nextPixelInMs: 303030 }, 'a new guest on the IP waits too')
  t.equal(b.state(me, 303031).pixelsAvailable, 1)
  const g = createPixelBudget({ rate: 5, burst: 100, guestIpRate: 2, guestIpBurst: 50 })
  t.match(g.state({ user: 'guest:x', ip: 'ip' }, 0), { pixelRate: 2, pixelBurst: 50, pixelsAvailable: 50 }, 'a guest sees the tighter of its budgets')
  t.match(g.state({ user: 'alice', ip: 'ip' }, 0), { pixelRate: 5, pixelBurst: 100, pixelsAvailable: 100 })
})

t.test('the sweep keeps cooling-down buckets of both kinds', async (t) => {
  const b = createPixelBudget({ rate: 1 / 300, burst: 1, guestIpRate: 1 / 300, guestIpBurst: 1 })
  b.take({ user: 'guest:a', ip: 'ip' }, 1, 0)
  b.sweep(299_999)
  t.equal(b.size, 2)
  b.sweep(300_000)
  t.equal(b.size, 0)
})
