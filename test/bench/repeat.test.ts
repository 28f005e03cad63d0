// `--repeat N` of the bench (bench/lib/repeat.ts): the pixelwire/(d) pairs
// alternate which server goes first, and each issue-11 target is judged on
// the median of the pairs' ratios, with min and max beside it. A target
// judged wrongly here would be reported met or missed for the wrong reason.
import t from 'tap'
import { describe, listRatios, meets, meetsOnMedian, pairOrder, pairOrders, summarize } from '../../bench/lib/repeat.js'

t.test('pairs alternate which server goes first, starting with the first named', async (t) => {
  t.same(pairOrder(0, 'p', 'd'), ['p', 'd'])
  t.same(pairOrder(1, 'p', 'd'), ['d', 'p'])
  t.same(pairOrders(5, 'p', 'd'), [['p', 'd'], ['d', 'p'], ['p', 'd'], ['d', 'p'], ['p', 'd']])
  t.same(pairOrders(1, 'p', 'd'), [['p', 'd']], 'one pair: the order of a run without --repeat')
  t.same(pairOrders(0, 'p', 'd'), [])
})

t.test('median, min and max of the ratios; the ratios kept in the order they ran', async (t) => {
  t.same(summarize([1.2, 0.8, 1.0]), { ratios: [1.2, 0.8, 1.0], median: 1.0, min: 0.8, max: 1.2 }, 'odd count: the middle one')
  t.same(summarize([1.4, 0.8, 1.0, 0.9]), { ratios: [1.4, 0.8, 1.0, 0.9], median: 0.95, min: 0.8, max: 1.4 }, 'even count: the mean of the middle two')
  t.same(summarize([0.785]), { ratios: [0.785], median: 0.785, min: 0.785, max: 0.785 }, 'one pair: its ratio')
  t.equal(summarize([0.9, 0.95, 5]).median, 0.95, 'one odd pair does not move the median')
  t.equal(summarize([2, 1, 3]).ratios[0], 2, 'the input order is not sorted away')
})

t.test('a pair without a figure is not averaged away; a zero denominator sorts last', async (t) => {
  const broken = summarize([1, NaN, 0.9])
  t.ok(Number.isNaN(broken.median) && Number.isNaN(broken.min) && Number.isNaN(broken.max), 'NaN anywhere: NaN')
  t.equal(broken.ratios.length, 3, 'every pair still listed')
  t.ok(Number.isNaN(summarize([]).median), 'no pairs: NaN')
  t.same(summarize([Infinity, 1, 2]), { ratios: [Infinity, 1, 2], median: 2, min: 1, max: Infinity })
})

t.test('a target is judged on the median: at least for delivered, at most for the rest', async (t) => {
  t.ok(meets(1, 1, true), 'at least, equal: met')
  t.ok(meets(1, 1, false), 'at most, equal: met')
  t.notOk(meets(0.999, 1, true))
  t.notOk(meets(1.2001, 1.2, false))
  t.notOk(meets(NaN, 1, false), 'no figure: missed')
  t.notOk(meets(Infinity, 1, true), 'not finite: missed (as a single pair always was)')

  // saturation p99 <= 1.0x: two good pairs and one bad one meet it; one good and two bad do not
  t.ok(meetsOnMedian(summarize([0.785, 1.475, 0.9]), 1, false))
  t.notOk(meetsOnMedian(summarize([0.785, 1.475, 1.1]), 1, false))
  // delivered >= 1.0x on the median, whatever the worst pair
  t.ok(meetsOnMedian(summarize([1.01, 0.7, 1.0]), 1, true))
  t.notOk(meetsOnMedian(summarize([1.02, 0.9, 0.96, 1.1]), 1, true), 'even count: the mean of the middle two, 0.99, misses')
  t.notOk(meetsOnMedian(summarize([1, NaN, 1]), 1, false), 'a broken pair: missed')
})

t.test('the Targets table says median, range and number of pairs', async (t) => {
  t.equal(describe(summarize([0.97, 0.88, 1.21, 0.95, 1.02])), 'median of 5 pairs: 0.970x (0.880-1.210)')
  t.equal(describe(summarize([1, 0.5]), 2), 'median of 2 pairs: 0.75x (0.50-1.00)')
  t.equal(describe(summarize([1, NaN])), 'median of 2 pairs: - (a pair without this figure: 1.000, -)')
  t.equal(listRatios(summarize([0.97, NaN, 1.2])), '0.970, -, 1.200')
})
