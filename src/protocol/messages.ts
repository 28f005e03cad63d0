// The server's parser of JSON text messages (§5); their types are the wire
// module's (json-messages.ts). Parsing never throws: any malformed message
// yields a BAD_MESSAGE error saying what was wrong.
import secureJsonParse from 'secure-json-parse'
import { MAX_TOKEN_CHARS, STREAM_NAME, type ClientMessage, type Decoded } from './wire.js'
import { protocolError, type ProtocolError } from './errors.js'
import { jsonTooDeep } from './json-depth.js'

export { MAX_TOKEN_CHARS, STREAM_NAME, type ClientMessage, type ServerMessage } from './wire.js'

/** Nesting a message may have, the message object itself included (config MAX_JSON_DEPTH). */
export const DEFAULT_MAX_JSON_DEPTH = 32

const PARSE_OPTIONS = { protoAction: 'error', constructorAction: 'error' } as const
const FORBIDDEN_KEY = 'forbidden prototype property'

function fail (message: string): { ok: false, error: ProtocolError } {
  return { ok: false, error: protocolError('BAD_MESSAGE', message) }
}

/** A short, safe rendering of a client-supplied value for an error message. */
function show (value: string): string {
  return JSON.stringify(value.length > 40 ? value.slice(0, 40) + '...' : value)
}

function hasKey (obj: object, key: string): boolean {
  return Object.prototype.hasOwnProperty.call(obj, key)
}

/** Returns the stream name, or an error message. */
function readStream (obj: Record<string, unknown>): { stream: string } | { error: string } {
  const stream = obj.stream
  if (stream === undefined) return { error: '"stream" is required' }
  if (typeof stream !== 'string') return { error: '"stream" must be a string' }
  if (!STREAM_NAME.test(stream)) {
    return { error: `"stream" must look like "namespace:name" (namespace [a-z0-9_-] up to 32 chars, name [A-Za-z0-9_.-] up to 64 chars), got ${show(stream)}` }
  }
  return { stream }
}

/**
 * Parse one text message from a client. The result is a fresh object with
 * only the known fields of its type; unknown fields are ignored. A message
 * nested deeper than `maxDepth` is refused before it is parsed, so no value
 * handed on can overflow the stack of whatever walks it later.
 */
export function parseClientText (text: string, maxDepth = DEFAULT_MAX_JSON_DEPTH): Decoded<ClientMessage> {
  if (jsonTooDeep(text, maxDepth)) return fail(`message nests arrays and objects deeper than ${maxDepth} levels`)
  let parsed: unknown
  try {
    parsed = secureJsonParse(text, null, PARSE_OPTIONS)
  } catch (err) {
    if (err instanceof Error && err.message.includes(FORBIDDEN_KEY)) {
      return fail('message contains a forbidden "__proto__" or "constructor.prototype" key')
    }
    return fail('message is not valid JSON')
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    return fail('message must be a JSON object')
  }
  const obj = parsed as Record<string, unknown>
  const type = obj.type
  if (type === undefined) return fail('message has no "type"')
  if (typeof type !== 'string') return fail('"type" must be a string')

  switch (type) {
    case 'subscribe': {
      const s = readStream(obj)
      if ('error' in s) return fail(s.error)
      if (hasKey(obj, 'last')) {
        // `last` (the newest N held messages) and `since` (everything after
        // an offset) are two different questions: one at a time.
        if (hasKey(obj, 'since')) return fail('"since" and "last" cannot be combined')
        const last = obj.last
        if (typeof last !== 'number' || !Number.isSafeInteger(last) || last < 0) return fail('"last" must be a non-negative integer')
        return { ok: true, value: { type, stream: s.stream, last: last + 0 } }
      }
      if (!hasKey(obj, 'since')) return { ok: true, value: { type, stream: s.stream } }
      const since = obj.since
      if (typeof since !== 'number' || !Number.isSafeInteger(since) || since < 0) {
        return fail('"since" must be a non-negative integer')
      }
      return { ok: true, value: { type, stream: s.stream, since: since + 0 } } // + 0 turns -0 into 0
    }
    case 'unsubscribe': {
      const s = readStream(obj)
      if ('error' in s) return fail(s.error)
      return { ok: true, value: { type, stream: s.stream } }
    }
    case 'publish': {
      const s = readStream(obj)
      if ('error' in s) return fail(s.error)
      if (!hasKey(obj, 'data')) return fail('"data" is required (any JSON value, null included)')
      return { ok: true, value: { type, stream: s.stream, data: obj.data } }
    }
    case 'ping':
    case 'sync':
      return { ok: true, value: hasKey(obj, 'id') ? { type, id: obj.id } : { type } }
    case 'auth': {
      const token = obj.token
      if (typeof token !== 'string' || token.length === 0) return fail('"token" must be a non-empty string')
      if (token.length > MAX_TOKEN_CHARS) return fail(`"token" must be at most ${MAX_TOKEN_CHARS} characters, got ${token.length}`)
      return { ok: true, value: { type, token } }
    }
    default:
      return fail(`unknown message type ${show(type)}`)
  }
}

/** Serialise a server → client JSON message. */
export function encodeJson (msg: object): string {
  return JSON.stringify(msg)
}
