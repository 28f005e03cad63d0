// WebSocket framing (RFC 6455 §5.2) of a server message, for writing one
// message, framed once, to many sockets. Pure: no socket, no `ws`.

/**
 * An unmasked, final WebSocket frame carrying `data` (text for a string,
 * binary for a Buffer): header and payload in one buffer, ready to be
 * written to any server-side socket.
 */
export function wsFrame (data: Buffer | string): Buffer {
  const text = typeof data === 'string'
  const len = text ? Buffer.byteLength(data) : data.length
  const head = len < 126 ? 2 : len < 65536 ? 4 : 10
  const frame = Buffer.allocUnsafe(head + len)
  frame[0] = text ? 0x81 : 0x82 // FIN, opcode 1 (text) or 2 (binary)
  if (head === 2) {
    frame[1] = len
  } else if (head === 4) {
    frame[1] = 126
    frame.writeUInt16BE(len, 2)
  } else {
    frame[1] = 127
    frame.writeUInt32BE(Math.floor(len / 2 ** 32), 2)
    frame.writeUInt32BE(len >>> 0, 6)
  }
  if (text) frame.write(data, head)
  else data.copy(frame, head)
  return frame
}
