import t, { type Test } from 'tap'
import { STREAM_NAME, encodeJson, parseClientText, type ClientMessage } from '../../../src/protocol/messages.js'
import type { Decoded } from '../../../src/protocol/codec.js'

function ok (t: Test, text: string, expected: ClientMessage): void {
  const res = parseClientText(text)
  if (!res.ok) {
    t.fail(`expected ok for ${text}, got ${res.error.code}: ${res.error.message}`)
    return
  }
  t.strictSame(res.value, expected, text)
}

function bad (t: Test, text: string, message?: string | RegExp): void {
  let res: Decoded<ClientMessage>
  try {
    res = parseClientText(text)
  } catch (e) {
    t.fail(`threw on ${text}: ${String(e)}`)
    return
  }
  if (res.ok) {
    t.fail(`expected BAD_MESSAGE for ${text}, got ${JSON.stringify(res.value)}`)
    return
  }
  t.equal(res.error.code, 'BAD_MESSAGE', text)
  if (typeof message === 'string') t.equal(res.error.message, message, text)
  else if (message !== undefined) t.match(res.error.message, message, text)
}

const j = (v: unknown) => JSON.stringify(v)

t.test('not JSON', async t => {
  for (const text of ['', ' ', '{', 'hello', '{"type":"ping",}', "{'type':'ping'}", '{"type":"ping"} x', 'undefined', 'NaN']) {
    bad(t, text, 'message is not valid JSON')
  }
})

t.test('not a plain object', async t => {
  for (const text of ['null', '[]', '[{"type":"ping"}]', '1', '"ping"', 'true', 'false']) {
    bad(t, text, 'message must be a JSON object')
  }
})

t.test('missing, non-string or unknown type', async t => {
  bad(t, '{}', 'message has no "type"')
  bad(t, '{"stream":"chat:main"}', 'message has no "type"')
  bad(t, '{"type":null}', '"type" must be a string')
  bad(t, '{"type":1}', '"type" must be a string')
  bad(t, '{"type":["ping"]}', '"type" must be a string')
  bad(t, '{"type":"pong"}', 'unknown message type "pong"')
  bad(t, '{"type":"PING"}', 'unknown message type "PING"')
  bad(t, '{"type":""}', 'unknown message type ""')
  bad(t, '{"type":"toString"}', 'unknown message type "toString"')
  bad(t, '{"type":"__proto__"}', 'unknown message type "__proto__"')
  // a long type is not echoed back in full
  bad(t, j({ type: 'x'.repeat(10000) }), `unknown message type "${'x'.repeat(40)}..."`)
})

t.test('prototype poisoning is refused', async t => {
  const msg = 'message contains a forbidden "__proto__" or "constructor.prototype" key'
  bad(t, '{"type":"ping","__proto__":{"admin":true}}', msg)
  bad(t, '{"__proto__":{"type":"ping"}}', msg)
  bad(t, '{"type":"publish","stream":"chat:main","data":{"__proto__":{"admin":true}}}', msg)
  bad(t, '{"type":"publish","stream":"chat:main","data":[{"a":{"__proto__":null}}]}', msg)
  bad(t, '{"type":"ping","\\u005f\\u005fproto__":{}}', msg)
  bad(t, '{"type":"publish","stream":"chat:main","data":{"constructor":{"prototype":{"admin":true}}}}', msg)
  bad(t, '{"type":"ping","id":{"constructor":{"prototype":{}}}}', msg)
  // `constructor` alone is harmless data
  ok(t, '{"type":"ping","id":{"constructor":"x"}}', { type: 'ping', id: { constructor: 'x' } })
  ok(t, '{"type":"publish","stream":"chat:main","data":"__proto__"}', { type: 'publish', stream: 'chat:main', data: '__proto__' })
  t.equal(({} as Record<string, unknown>).admin, undefined, 'Object.prototype untouched')
})

t.test('subscribe', async t => {
  ok(t, '{"type":"subscribe","stream":"chat:main"}', { type: 'subscribe', stream: 'chat:main' })
  ok(t, '{"type":"subscribe","stream":"chat:main","since":0}', { type: 'subscribe', stream: 'chat:main', since: 0 })
  ok(t, '{"type":"subscribe","stream":"alerts:ops","since":42}', { type: 'subscribe', stream: 'alerts:ops', since: 42 })
  ok(t, j({ type: 'subscribe', stream: 'chat:main', since: Number.MAX_SAFE_INTEGER }), { type: 'subscribe', stream: 'chat:main', since: Number.MAX_SAFE_INTEGER })
  ok(t, '{"type":"subscribe","stream":"chat:main","since":1e3}', { type: 'subscribe', stream: 'chat:main', since: 1000 })
  // -0 is zero
  const res = parseClientText('{"type":"subscribe","stream":"chat:main","since":-0}')
  t.ok(res.ok && res.value.type === 'subscribe' && Object.is(res.value.since, 0), '-0 becomes 0')
  // no `since` key unless one was sent
  const plain = parseClientText('{"type":"subscribe","stream":"chat:main"}')
  t.ok(plain.ok && !('since' in plain.value), 'since omitted')

  const sinceMsg = '"since" must be a non-negative integer'
  bad(t, '{"type":"subscribe","stream":"chat:main","since":-1}', sinceMsg)
  bad(t, '{"type":"subscribe","stream":"chat:main","since":1.5}', sinceMsg)
  bad(t, '{"type":"subscribe","stream":"chat:main","since":"5"}', sinceMsg)
  bad(t, '{"type":"subscribe","stream":"chat:main","since":null}', sinceMsg)
  bad(t, '{"type":"subscribe","stream":"chat:main","since":true}', sinceMsg)
  bad(t, '{"type":"subscribe","stream":"chat:main","since":[1]}', sinceMsg)
  bad(t, '{"type":"subscribe","stream":"chat:main","since":9007199254740992}', sinceMsg)
  bad(t, '{"type":"subscribe","stream":"chat:main","since":1e400}', sinceMsg)
  bad(t, '{"type":"subscribe"}', '"stream" is required')
})

t.test('stream names', async t => {
  const valid = [
    'chat:main', 'alerts:ops', 'a:b', '0:0', 'chat_2:x', 'my-ns:Room.1', 'chat:a.b-c_d', 'chat:ALL',
    'n'.repeat(32) + ':x', 'chat:' + 'N'.repeat(64), 'n'.repeat(32) + ':' + 'N'.repeat(64)
  ]
  for (const stream of valid) {
    t.match(stream, STREAM_NAME, `${stream} matches`)
    ok(t, j({ type: 'unsubscribe', stream }), { type: 'unsubscribe', stream })
  }
  const invalid = [
    '', 'chat', 'chat:', ':main', 'Chat:main', '_chat:main', '-chat:main', 'chat:_main', 'chat:.main',
    'chat:main:x', 'chat main:x', 'chat:ma in', 'chät:main', 'chat:mäin', 'chat:main\n', '\nchat:main', ' chat:main',
    'n'.repeat(33) + ':x', 'chat:' + 'N'.repeat(65), 'chat:a/b', 'chat/x:y'
  ]
  const shape = /^"stream" must look like "namespace:name" \(namespace \[a-z0-9_-\] up to 32 chars, name \[A-Za-z0-9_.-\] up to 64 chars\), got "/
  for (const stream of invalid) {
    t.notMatch(stream, STREAM_NAME, `${JSON.stringify(stream)} does not match`)
    for (const type of ['subscribe', 'unsubscribe', 'publish']) {
      bad(t, j({ type, stream, data: 1 }), shape)
    }
  }
  for (const stream of [1, null, true, ['chat:main'], { name: 'chat:main' }]) {
    bad(t, j({ type: 'unsubscribe', stream }), '"stream" must be a string')
  }
  bad(t, '{"type":"unsubscribe"}', '"stream" is required')
  bad(t, '{"type":"publish","data":1}', '"stream" is required')
  // the name is echoed, cut short
  bad(t, j({ type: 'unsubscribe', stream: 'X'.repeat(1000) }), new RegExp(`got "${'X'.repeat(40)}\\.\\.\\."$`))
})

t.test('unsubscribe', async t => {
  ok(t, '{"type":"unsubscribe","stream":"chat:main"}', { type: 'unsubscribe', stream: 'chat:main' })
  // since means nothing here and is dropped
  ok(t, '{"type":"unsubscribe","stream":"chat:main","since":5}', { type: 'unsubscribe', stream: 'chat:main' })
})

t.test('publish', async t => {
  ok(t, '{"type":"publish","stream":"chat:main","data":"hi"}', { type: 'publish', stream: 'chat:main', data: 'hi' })
  ok(t, '{"type":"publish","stream":"chat:main","data":null}', { type: 'publish', stream: 'chat:main', data: null })
  ok(t, '{"type":"publish","stream":"chat:main","data":0}', { type: 'publish', stream: 'chat:main', data: 0 })
  ok(t, '{"type":"publish","stream":"chat:main","data":false}', { type: 'publish', stream: 'chat:main', data: false })
  ok(t, '{"type":"publish","stream":"chat:main","data":""}', { type: 'publish', stream: 'chat:main', data: '' })
  ok(t, '{"type":"publish","stream":"chat:main","data":{"text":"hi","n":[1,2]}}', { type: 'publish', stream: 'chat:main', data: { text: 'hi', n: [1, 2] } })
  ok(t, '{"type":"publish","stream":"chat:main","data":[]}', { type: 'publish', stream: 'chat:main', data: [] })
  bad(t, '{"type":"publish","stream":"chat:main"}', '"data" is required (any JSON value, null included)')
})

t.test('ping', async t => {
  ok(t, '{"type":"ping"}', { type: 'ping' })
  ok(t, '{"type":"ping","id":7}', { type: 'ping', id: 7 })
  ok(t, '{"type":"ping","id":"abc"}', { type: 'ping', id: 'abc' })
  ok(t, '{"type":"ping","id":null}', { type: 'ping', id: null })
  ok(t, '{"type":"ping","id":{"a":[1]}}', { type: 'ping', id: { a: [1] } })
  const res = parseClientText('{"type":"ping"}')
  t.ok(res.ok && !('id' in res.value), 'id omitted when not sent')
  const withNull = parseClientText('{"type":"ping","id":null}')
  t.ok(withNull.ok && 'id' in withNull.value, 'id kept when null')
})

t.test('auth', async t => {
  ok(t, '{"type":"auth","token":"a.b.c"}', { type: 'auth', token: 'a.b.c' })
  ok(t, j({ type: 'auth', token: 't'.repeat(8192) }), { type: 'auth', token: 't'.repeat(8192) })
  bad(t, j({ type: 'auth', token: 't'.repeat(8193) }), '"token" must be at most 8192 characters, got 8193')
  bad(t, '{"type":"auth"}', '"token" must be a non-empty string')
  bad(t, '{"type":"auth","token":""}', '"token" must be a non-empty string')
  bad(t, '{"type":"auth","token":null}', '"token" must be a non-empty string')
  bad(t, '{"type":"auth","token":123}', '"token" must be a non-empty string')
  bad(t, '{"type":"auth","token":["a"]}', '"token" must be a non-empty string')
})

t.test('unknown extra fields are ignored; the result is a fresh object', async t => {
  ok(t, '{"type":"subscribe","stream":"chat:main","since":3,"extra":1,"data":2,"token":"x","id":4}', { type: 'subscribe', stream: 'chat:main', since: 3 })
  ok(t, '{"type":"publish","stream":"chat:main","data":1,"since":"nonsense","x":{}}', { type: 'publish', stream: 'chat:main', data: 1 })
  ok(t, '{"extra":true,"type":"ping","stream":"not a stream"}', { type: 'ping' })
  ok(t, '{"type":"auth","token":"abc","sub":"admin","role":"admin"}', { type: 'auth', token: 'abc' })
  // duplicate keys: last one wins, as in JSON.parse
  ok(t, '{"type":"pong","type":"ping"}', { type: 'ping' })
  // the result carries only own, known fields and a plain prototype
  const res = parseClientText('{"type":"unsubscribe","stream":"chat:main","extra":1}')
  if (!res.ok) return t.fail('expected ok')
  t.strictSame(Object.keys(res.value), ['type', 'stream'])
  t.equal(Object.getPrototypeOf(res.value), Object.prototype)
})

t.test('fuzz: never throws', async t => {
  let seed = 12345
  const rand = () => {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0
    return seed / 4294967296
  }
  const alphabet = '{}[]":,0123456789-.etruflsnabcdpiygkoz_\\ \u00e9\ud83d'
  const pieces = ['"type"', '"subscribe"', '"publish"', '"ping"', '"auth"', '"stream"', '"chat:main"', '"since"', '"data"', '"token"', '"id"', '"__proto__"', '"constructor"', '"prototype"', 'null', '{', '}', ':', ',']
  let threw = 0
  for (let i = 0; i < 5000; i++) {
    let text = ''
    const n = Math.floor(rand() * 40)
    for (let k = 0; k < n; k++) {
      text += rand() < 0.5 ? alphabet[Math.floor(rand() * alphabet.length)] : pieces[Math.floor(rand() * pieces.length)]
    }
    try {
      const res = parseClientText(text)
      if (!res.ok && res.error.code !== 'BAD_MESSAGE') threw++
    } catch {
      threw++
    }
  }
  t.equal(threw, 0, 'no throws, only BAD_MESSAGE')
})

t.test('encodeJson', async t => {
  t.equal(encodeJson({ type: 'pong' }), '{"type":"pong"}')
  t.equal(encodeJson({ type: 'pong', id: null }), '{"type":"pong","id":null}')
  t.equal(encodeJson({ type: 'message', stream: 'chat:main', offset: 3, data: { a: 'é"' } }), '{"type":"message","stream":"chat:main","offset":3,"data":{"a":"é\\""}}')
  t.equal(encodeJson({ type: 'subscribed', stream: 's:x', offset: 0, dropped: undefined }), '{"type":"subscribed","stream":"s:x","offset":0}')
})

t.test('nesting beyond the depth limit is refused before parsing', async t => {
  const nested = (n: number) => '{"type":"ping","id":' + '['.repeat(n - 1) + ']'.repeat(n - 1) + '}'
  ok(t, nested(32), { type: 'ping', id: JSON.parse('['.repeat(31) + ']'.repeat(31)) })
  bad(t, nested(33), 'message nests arrays and objects deeper than 32 levels')
  // The issue-10 message: it parses, but echoing its id overflowed the stack.
  bad(t, nested(8151), /deeper than 32 levels/)
  const deep = parseClientText(nested(40), 40)
  t.equal(deep.ok, true, 'the limit is a parameter')
  const publish = '{"type":"publish","stream":"chat:main","data":' + '{"a":'.repeat(40) + '1' + '}'.repeat(40) + '}'
  bad(t, publish, /deeper than 32 levels/)
})
