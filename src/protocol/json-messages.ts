// The JSON (text) messages of the wire contract (PROTOCOL.md §2, §5, §10),
// as types for both ends. Part of the wire module (wire.ts). The server's
// parser of client messages is messages.ts; a client reads server messages
// by `type` and should ignore types and fields it does not know (the
// contract only ever adds).
import type { ErrorCode } from './errors.js'
import type { Role } from './wire-format.js'

export type StreamName = string

/** `namespace:name`, e.g. `chat:main`, `alerts:ops`. */
export const STREAM_NAME = /^[a-z0-9][a-z0-9_-]{0,31}:[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/

/** Longest token an `auth` message may carry. */
export const MAX_TOKEN_CHARS = 8192

// Client → server (§5)

/** `since`: replay what came after that offset; `last`: replay the newest N held (never both). */
export interface SubscribeMessage { type: 'subscribe', stream: StreamName, since?: number, last?: number }
export interface UnsubscribeMessage { type: 'unsubscribe', stream: StreamName }
export interface PublishMessage { type: 'publish', stream: StreamName, data: unknown }
export interface PingMessage { type: 'ping', id?: unknown }
/** Replace the token before it expires: same `sub`, later `exp`. */
export interface AuthMessage { type: 'auth', token: string }
/** v1.1 commit barrier: answered by `synced` once every draw op sent before it is committed or refused. */
export interface SyncMessage { type: 'sync', id?: unknown }

export type ClientMessage =
  | SubscribeMessage
  | UnsubscribeMessage
  | PublishMessage
  | PingMessage
  | AuthMessage
  | SyncMessage

// Server → client (§2, §5, §10)

/** `hello.limits`: what the server accepts from this connection. */
export interface Limits {
  maxMessageBytes: number
  maxStrokePixels: number
  maxRectPixels: number
  /** the user's pixel budget: pixels per second (may be fractional) and bucket size */
  pixelRate: number
  pixelBurst: number
  /** whole pixels this user may draw now (a guest: also within its IP's budget) */
  pixelsAvailable: number
  /** when the next pixel is allowed: server clock, ms since the epoch (now when pixelsAvailable ≥ 1) */
  nextPixelAt: number
  /** the same as a delay from this hello, for clients whose clock differs from the server's */
  nextPixelInMs: number
  tickMs: number
}

export interface CanvasInfo {
  id: string
  width: number
  height: number
  seq: number
  epoch: string
  /** v1.1: a frozen canvas refuses every non-admin draw */
  frozen?: boolean
}

export interface HelloMessage {
  type: 'hello'
  connectionId: number
  user: { id: string, name: string, role: Role }
  canvas: CanvasInfo
  /** which follows: a SNAPSHOT, or the missed changes as UPDATES */
  resume: 'snapshot' | 'replay'
  limits: Limits
  heartbeatMs: number
  /** v1.1 cluster mode: the node serving this connection */
  node?: string
}

export interface StreamMessage { type: 'message', stream: StreamName, offset: number, data: unknown }
/** `recovered` answers a `since`: true, and every held message after it follows; false, and none does. */
export interface SubscribedMessage { type: 'subscribed', stream: StreamName, offset: number, recovered?: boolean }
export interface UnsubscribedMessage { type: 'unsubscribed', stream: StreamName }
export interface PublishedMessage { type: 'published', stream: StreamName, offset: number }

export interface PresenceMessage {
  type: 'presence'
  canvas: string
  joined: Array<{ connectionId: number, name: string }>
  left: number[]
  /** everyone on the canvas (a roster may list fewer) */
  count?: number
}

/** A refused message; the connection stays open. Unknown codes may come (the contract adds). */
export interface ErrorMessage { type: 'error', code: ErrorCode | (string & {}), message: string, retryAfterMs?: number }
export interface PongMessage { type: 'pong', id?: unknown }
export interface AuthenticatedMessage { type: 'authenticated', exp: number, role: Role }
/** An admin broadcast to a canvas's clients or to one user's connections. */
export interface BroadcastMessage { type: 'broadcast', canvas?: string, user?: string, data: unknown }
/** v1.1: the answer to `sync`; `seq` is a canvas seq at or after the commit of every earlier draw. */
export interface SyncedMessage { type: 'synced', id?: unknown, seq: number }

/**
 * v1.1: the canvas changed state: `frozen` toggled, or a reset (a new
 * `epoch`, with the hello-style fields; a SNAPSHOT follows).
 */
export interface CanvasMessage extends Partial<Omit<CanvasInfo, 'id'>> {
  type: 'canvas'
  canvas: string
}

export type ServerMessage =
  | HelloMessage
  | StreamMessage
  | SubscribedMessage
  | UnsubscribedMessage
  | PublishedMessage
  | PresenceMessage
  | ErrorMessage
  | PongMessage
  | AuthenticatedMessage
  | BroadcastMessage
  | SyncedMessage
  | CanvasMessage
