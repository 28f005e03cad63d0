// The server's entry to the wire module (wire.ts): everything it holds, with
// the encoders of the server's hot paths returning Buffers. They run the
// wire module's own encoders, only allocating with Buffer.allocUnsafe
// (pooled for small frames, no zero-fill: every byte is written) so the
// transport and the WebSocket framing take the result as is. The decoders
// take a Buffer as any Uint8Array; a PIXEL(S) op's records stay a Buffer view.
import * as wire from './wire.js'
import type { CursorEntry, SnapshotEncodingValue } from './wire.js'

export * from './wire.js'

const allocBuffer = (size: number): Buffer => Buffer.allocUnsafe(size)

/** SNAPSHOT, in a Buffer (see wire.encodeSnapshot). */
export function encodeSnapshot (seq: number, width: number, height: number, encoding: SnapshotEncodingValue, payload: Uint8Array): Buffer {
  return wire.encodeSnapshot(seq, width, height, encoding, payload, allocBuffer)
}

/** UPDATES, in a Buffer (see wire.encodeUpdates). */
export function encodeUpdates (seq: number, records: Uint8Array): Buffer {
  return wire.encodeUpdates(seq, records, allocBuffer)
}

/** CURSORS, in a Buffer (see wire.encodeCursors). */
export function encodeCursors (entries: ReadonlyArray<CursorEntry>): Buffer {
  return wire.encodeCursors(entries, allocBuffer)
}

/** A RECT's packed records, in a Buffer (see wire.rectRecords). */
export function rectRecords (x: number, y: number, w: number, h: number, color: number): Buffer {
  return wire.rectRecords(x, y, w, h, color, allocBuffer)
}
