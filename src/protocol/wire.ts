// The wire module: the one source of the pixelwire contract's bytes and
// messages, for both ends. The server (through codec.ts and messages.ts),
// the browser bundle (src/client), the bench clients and any client library
// import it. It uses no Node-only types or modules (Uint8Array, not
// Buffer), so it bundles for browsers as is; `tsc -p src/client` checks that.
//
// - wire-format.ts: op codes, sizes, the 7-byte pixel record, colours, roles
// - client-frames.ts: PIXEL, PIXELS, RECT, CURSOR: encoders and the server's decoder
// - server-frames.ts: SNAPSHOT, UPDATES, CURSORS: encoders and a client's decoders
// - json-messages.ts: the JSON messages of both directions, as types
// - errors.ts: error codes and close codes
//
// test/src/protocol/wire-roundtrip.test.ts holds the two halves together.
export * from './wire-format.js'
export * from './client-frames.js'
export * from './server-frames.js'
export * from './json-messages.js'
export { CloseCode, type CloseCodeValue, type ErrorCode, type ProtocolError } from './errors.js'
