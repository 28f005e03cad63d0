// One table of disconnect values: each a documented close code with its reason.
import t from 'tap'
import { Disconnect } from '../../../src/connection/disconnect.js'
import { CloseCode, CloseReason, type CloseCodeValue } from '../../../src/protocol/errors.js'
import { CLOSE_LABEL_VALUES, closeLabel, isWireCloseCode } from '../../../src/metrics.js'

t.test('every disconnect is a documented code with its reason, frozen', async (t) => {
  // A ban is the contract's 4403 "kicked or banned" with its own reason; every other value is the code of its name with that code's reason.
  const SHARED: Record<string, { code: number, reason: string }> = { BANNED: { code: CloseCode.KICKED, reason: 'banned' } }
  for (const [name, d] of Object.entries(Disconnect)) {
    const expected = SHARED[name] ?? { code: CloseCode[name as keyof typeof CloseCode], reason: CloseReason[d.code as CloseCodeValue] }
    t.equal(d.code, expected.code, `${name}: the code of the same name`)
    t.equal(d.reason, expected.reason, `${name}: its reason`)
    t.ok(/^[\x20-\x7e]+$/.test(d.reason) && d.reason.length < 123, `${name}: a short ASCII reason`)
    t.ok(Object.isFrozen(d), `${name}: frozen`)
  }
  t.ok(Object.isFrozen(Disconnect), 'the table is frozen')
  t.same(Disconnect.KICKED, { code: 4403, reason: 'kicked' })
  t.same(Disconnect.TRY_AGAIN_LATER, { code: 1013, reason: 'try again later' })
})

t.test('closeLabel: documented codes by value, others by value up to the cap, then other', async (t) => {
  t.equal(closeLabel(4403), '4403')
  t.equal(closeLabel(1006), '1006')
  t.equal(closeLabel(1008), '1008')
  t.equal(closeLabel(4000), 'other', 'no room for others by default')
  const seen = new Map<string, number>([['1000', 5], ['other', 1]])
  t.equal(closeLabel(4000, seen, 1), '4000', 'the first other code gets its label')
  seen.set('4000', 1)
  t.equal(closeLabel(4000, seen, 1), '4000', 'and keeps it')
  t.equal(closeLabel(3001, seen, 1), 'other', 'the cap is reached: a new one is other')
  t.equal(closeLabel(5000, seen, 100), 'other', 'never a code that cannot be on the wire')
  t.equal(closeLabel(1005, seen, 0), '1005')
  t.ok(CLOSE_LABEL_VALUES.includes('other') && CLOSE_LABEL_VALUES.includes('1013'))
  t.same([999, 1000, 1004, 1005, 1006, 1014, 1015, 2999, 3000, 4999, 5000, 1000.5].map(isWireCloseCode),
    [false, true, false, false, false, true, false, false, true, true, false, false])
})
