// Why the server ends a connection: one value per documented close (contract
// §6), code and reason together, so no call site spells out a code and a
// string of its own. `conn.close(Disconnect.KICKED)`.
import { CloseCode, CloseReason, type CloseCodeValue } from '../protocol/errors.js'

export interface DisconnectReason {
  readonly code: number
  /** a short ASCII word or two (the close frame allows 123 bytes) */
  readonly reason: string
}

const of = (code: CloseCodeValue): DisconnectReason => Object.freeze({ code, reason: CloseReason[code] })

export const Disconnect = Object.freeze({
  NORMAL: of(CloseCode.NORMAL),
  GOING_AWAY: of(CloseCode.GOING_AWAY),
  INTERNAL: of(CloseCode.INTERNAL),
  TRY_AGAIN_LATER: of(CloseCode.TRY_AGAIN_LATER),
  SLOW_CONSUMER: of(CloseCode.SLOW_CONSUMER),
  HEARTBEAT_TIMEOUT: of(CloseCode.HEARTBEAT_TIMEOUT),
  BAD_MESSAGES: of(CloseCode.BAD_MESSAGES),
  TOKEN_EXPIRED: of(CloseCode.TOKEN_EXPIRED),
  KICKED: of(CloseCode.KICKED),
  /** 4403 too (the contract's "kicked or banned"): the reason says which */
  BANNED: Object.freeze({ code: CloseCode.KICKED, reason: 'banned' }),
  RATE_ABUSE: of(CloseCode.RATE_ABUSE),
  CANVAS_DELETED: of(CloseCode.CANVAS_DELETED)
})
