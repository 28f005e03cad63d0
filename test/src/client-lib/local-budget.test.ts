// The client library's copy of the pixel budget, on a given clock: it
// refills at 0.95 of the server's rate up to the burst, and an op taken
// from a full bucket gives back the refill credited until its pong.
import t from 'tap'
import { LOCAL_RATE, LocalBudget } from '../../../src/client-lib/local-budget.js'
import { tokenExp } from '../../../src/client-lib/index.js'
import { token } from '../../helper.js'

t.test('refills at LOCAL_RATE of the server\'s rate, capped at the burst', async (t) => {
  const b = new LocalBudget(10, 5, 2, 0)
  t.equal(b.level(0), 2)
  t.equal(b.wait(2, 0), 0)
  t.equal(b.wait(3, 0), Math.ceil(1000 / (10 * LOCAL_RATE)), 'one missing pixel at 9.5/s')
  t.equal(b.level(60_000), 5, 'never past the burst')
  t.equal(b.take(5, 60_000), true, 'taken from a full bucket')
  t.equal(b.level(60_000), 0)
  t.equal(b.take(0, 60_000), false)
})

t.test('settle: the refill between a full-bucket send and its pong is taken back', async (t) => {
  const b = new LocalBudget(100, 10, 10, 0)
  t.equal(b.take(10, 0), true)
  t.equal(b.level(40), 40 * 100 * LOCAL_RATE / 1000, 'the client credits 40 ms of refill')
  b.settle(0, 40) // the server answered 40 ms after the send: it may have taken the tokens then
  t.equal(b.level(40), 0, 'so nothing is credited before the pong')
  t.ok(b.level(50) > 0, 'refill goes on from there')
})

t.test('empty: a RATE_LIMITED answer leaves nothing for retryAfterMs', async (t) => {
  const b = new LocalBudget(10, 5, 5, 0)
  b.empty(1000, 0)
  t.ok(b.level(999) < 0.01 * LOCAL_RATE, 'still nothing just before')
  t.equal(b.wait(1, 1000), Math.ceil(1000 / (10 * LOCAL_RATE)), 'then the usual refill')
})

t.test('tokenExp reads a JWT\'s exp without verifying; null for anything else', async (t) => {
  const exp = tokenExp(token({ sub: 'a' }, { ttlSec: 60 }))
  t.ok(exp !== null && Math.abs(exp - (Date.now() / 1000 + 60)) < 5, `exp ${exp} is about a minute away`)
  t.equal(tokenExp('not a jwt'), null)
  t.equal(tokenExp('a.' + btoa('{"sub":"x"}') + '.c'), null, 'no exp')
})
