// One table of disconnect values: each a documented close code with its reason.
import t from 'tap'
import { Disconnect } from '../../../src/connection/disconnect.js'
import { CloseCode, CloseReason, type CloseCodeValue } from '../../../src/protocol/errors.js'

t.test('every disconnect is a documented code with its reason, frozen', async (t) => {
  for (const [name, d] of Object.entries(Disconnect)) {
    t.equal(d.code, CloseCode[name as keyof typeof CloseCode], `${name}: the code of the same name`)
    t.equal(d.reason, CloseReason[d.code as CloseCodeValue], `${name}: its reason`)
    t.ok(/^[\x20-\x7e]+$/.test(d.reason) && d.reason.length < 123, `${name}: a short ASCII reason`)
    t.ok(Object.isFrozen(d), `${name}: frozen`)
  }
  t.ok(Object.isFrozen(Disconnect), 'the table is frozen')
  t.same(Disconnect.KICKED, { code: 4403, reason: 'kicked' })
  t.same(Disconnect.TRY_AGAIN_LATER, { code: 1013, reason: 'try again later' })
})
