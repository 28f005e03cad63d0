import t from 'tap'
import { CloseCode, CloseReason, encodeError, protocolError, type CloseCodeValue } from '../../../src/protocol/errors.js'

t.test('protocolError', async t => {
  const e = protocolError('BAD_MESSAGE', 'nope')
  t.strictSame(e, { code: 'BAD_MESSAGE', message: 'nope' })
  t.notOk('retryAfterMs' in e, 'no retryAfterMs key when not given')
  t.strictSame(protocolError('RATE_LIMITED', 'slow down', 250), { code: 'RATE_LIMITED', message: 'slow down', retryAfterMs: 250 })
  t.strictSame(protocolError('UNAVAILABLE', 'busy', 0), { code: 'UNAVAILABLE', message: 'busy', retryAfterMs: 0 })
})

t.test('encodeError', async t => {
  t.equal(encodeError(protocolError('BAD_MESSAGE', 'PIXEL must be 8 bytes, got 7')),
    '{"type":"error","code":"BAD_MESSAGE","message":"PIXEL must be 8 bytes, got 7"}')
  t.equal(encodeError(protocolError('RATE_LIMITED', 'too many pixels', 1500)),
    '{"type":"error","code":"RATE_LIMITED","message":"too many pixels","retryAfterMs":1500}')
  t.equal(encodeError({ code: 'UNAVAILABLE', message: 'x', retryAfterMs: 0 }),
    '{"type":"error","code":"UNAVAILABLE","message":"x","retryAfterMs":0}')
  t.equal(encodeError({ code: 'INTERNAL', message: 'x', retryAfterMs: undefined }),
    '{"type":"error","code":"INTERNAL","message":"x"}')
  // quoting and non-ASCII survive a round trip
  const msg = 'no stream "a\\b"\n é ✓'
  t.strictSame(JSON.parse(encodeError(protocolError('UNKNOWN_STREAM', msg))), { type: 'error', code: 'UNKNOWN_STREAM', message: msg })
  // only the contract's fields go out, whatever else the object carries
  const extra = Object.assign(protocolError('FORBIDDEN', 'no'), { stack: 'secret' })
  t.equal(encodeError(extra), '{"type":"error","code":"FORBIDDEN","message":"no"}')
  for (const code of ['BAD_MESSAGE', 'OUT_OF_BOUNDS', 'FORBIDDEN', 'RATE_LIMITED', 'TOO_LARGE', 'UNKNOWN_STREAM', 'UNAVAILABLE', 'INTERNAL'] as const) {
    t.equal(JSON.parse(encodeError(protocolError(code, 'm'))).code, code)
  }
})

t.test('CloseCode matches the contract table', async t => {
  t.strictSame({ ...CloseCode }, {
    NORMAL: 1000,
    GOING_AWAY: 1001,
    PROTOCOL_ERROR: 1002,
    INVALID_PAYLOAD: 1007,
    TOO_BIG: 1009,
    INTERNAL: 1011,
    TRY_AGAIN_LATER: 1013,
    SLOW_CONSUMER: 4008,
    HEARTBEAT_TIMEOUT: 4012,
    BAD_MESSAGES: 4400,
    TOKEN_EXPIRED: 4401,
    KICKED: 4403,
    CANVAS_DELETED: 4404,
    RATE_ABUSE: 4429
  })
})

t.test('CloseReason', async t => {
  t.strictSame(CloseReason, {
    1000: 'normal',
    1001: 'going away',
    1002: 'protocol error',
    1007: 'invalid utf8',
    1009: 'message too big',
    1011: 'internal error',
    1013: 'try again later',
    4008: 'slow consumer',
    4012: 'heartbeat timeout',
    4400: 'too many bad messages',
    4401: 'token expired',
    4403: 'kicked',
    4404: 'canvas deleted',
    4429: 'rate limit abuse'
  })
  const codes = Object.values(CloseCode) as CloseCodeValue[]
  t.equal(Object.keys(CloseReason).length, codes.length, 'one reason per code')
  for (const code of codes) {
    const reason = CloseReason[code]
    t.equal(typeof reason, 'string', `${code} has a reason`)
    t.ok(reason.length > 0, `${code} reason not empty`)
    t.ok(Buffer.byteLength(reason) < 123, `${code} reason under 123 bytes`)
    t.match(reason, /^[a-z0-9 ]+$/, `${code} reason is short ASCII words`)
  }
})
