// pixelwire/client: the typed client library (package.json "exports").
// Node ≥ 20 and browsers: nothing here needs a Node-only API; in Node 20
// pass the `ws` package as the WebSocket option. docs/protocol.md ("Client
// library") says what a confirmed draw guarantees.
export {
  PixelwireClient, PixelwireError, tokenExp,
  type ClientOptions, type ClientEvents, type ClientState, type DrawResult, type SocketLike, type StateDetail, type WebSocketConstructor
} from './client.js'
export { LocalCanvas } from './local-canvas.js'
export {
  packRgb, unpackRgb, toHexColor, parseHexColor, CloseCode,
  type HelloMessage, type Limits, type CanvasInfo, type PresenceMessage, type StreamMessage, type CanvasMessage,
  type BroadcastMessage, type CursorEntry, type Role, type ErrorCode
} from '../protocol/wire.js'
