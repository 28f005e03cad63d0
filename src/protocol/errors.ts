// Protocol-level errors (contract §5) and WebSocket close codes (contract §6).
// Pure values and functions: no I/O, no framework imports.

export type ErrorCode =
  | 'BAD_MESSAGE'
  | 'OUT_OF_BOUNDS'
  | 'FORBIDDEN'
  | 'RATE_LIMITED'
  | 'TOO_LARGE'
  | 'UNKNOWN_STREAM'
  | 'UNAVAILABLE'
  | 'INTERNAL'
  | 'LOCKED'
  | 'FROZEN'
  | 'BAD_COLOR'

export interface ProtocolError {
  code: ErrorCode
  message: string
  retryAfterMs?: number
}

export function protocolError (code: ErrorCode, message: string, retryAfterMs?: number): ProtocolError {
  return retryAfterMs === undefined ? { code, message } : { code, message, retryAfterMs }
}

/** The JSON `error` message sent to a client; the connection stays open. */
export function encodeError (e: ProtocolError): string {
  return JSON.stringify(e.retryAfterMs === undefined
    ? { type: 'error', code: e.code, message: e.message }
    : { type: 'error', code: e.code, message: e.message, retryAfterMs: e.retryAfterMs })
}

export const CloseCode = {
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
  RATE_ABUSE: 4429,
  CANVAS_DELETED: 4404
} as const

export type CloseCodeValue = typeof CloseCode[keyof typeof CloseCode]

/** Close reasons: short ASCII words, well under the 123-byte limit. */
export const CloseReason: Record<CloseCodeValue, string> = {
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
  4429: 'rate limit abuse',
  4404: 'canvas deleted'
}
