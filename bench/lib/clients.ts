// The soak's clients: normal painters and watchers, a slow client, a dead
// client and a handshake flood. All talk to 127.0.0.1 only.
import { createHash, randomBytes } from 'node:crypto'
import { connect as tcpConnect, type Socket } from 'node:net'
import { createSigner } from 'fast-jwt'
import WebSocket from 'ws'
import { Op, PIXEL_RECORD_BYTES, decodeServerBinary, encodePixel as encodePixelOp, readPixelRecord, type Role } from '../../src/protocol/wire.js'
import { sleep, within } from './server.js'

export type Sign = (sub: string, role: Exclude<Role, 'admin'>) => string
export function signer (secret: string, ttlSec: number): Sign {
  const sign = createSigner({ key: secret, algorithm: 'HS256', expiresIn: ttlSec * 1000 })
  return (sub, role) => sign({ sub, role })
}

/** Latency histogram in 0.1 ms buckets up to 10 s (beyond lands in the last): O(1) add, bounded memory. */
export class Histogram {
  private readonly buckets = new Uint32Array(100_001)
  count = 0
  max = 0
  add (ms: number): void {
    this.buckets[Math.min(this.buckets.length - 1, Math.max(0, Math.round(ms * 10)))]++
    this.count++
    if (ms > this.max) this.max = ms
  }

  quantile (q: number): number {
    let seen = 0
    for (let i = 0; i < this.buckets.length && this.count > 0; i++) if ((seen += this.buckets[i]) >= q * this.count) return i / 10
    return NaN
  }

  reset (): void { this.buckets.fill(0); this.count = this.max = 0 }
}

/**
 * Pixel n has colour n (24 bits) and a coordinate derived from n, so a
 * receiver knows which sent pixel it got and can check both.
 */
export const pixelAt = (n: number, w: number, h: number) => ({ x: n % w, y: Math.floor(n / w) % h })
export function encodePixel (n: number, w: number, h: number): Buffer {
  const { x, y } = pixelAt(n, w, h)
  return encodePixelOp(x, y, n & 0xffffff, (size) => Buffer.alloc(size))
}

/** Open a client WebSocket; listeners attach before the upgrade so no frame is missed. Retries 429 (the per-IP handshake rate). */
export async function open (url: string, token: string, onMessage: (d: Buffer, bin: boolean) => void, tries = 5): Promise<WebSocket> {
  for (let i = 1; ; i++) {
    const ws = new WebSocket(url, { headers: { authorization: `Bearer ${token}` }, handshakeTimeout: 5000 })
    ws.on('message', onMessage)
    const err = await new Promise<Error | null>((resolve) => {
      ws.once('open', () => resolve(null))
      ws.once('error', resolve)
    })
    if (err === null) return ws
    if (i >= tries || !/: 429$/.test(err.message)) throw new Error(`connect: ${err.message}`)
    await sleep(1100)
  }
}

export interface Watcher { ws: WebSocket, synced: Promise<void>, delivered: number, seqErrors: number, closeCode: number | null }

/** A viewer that decodes every UPDATES frame, checks seq continuity and times the pixels it recognises. */
export async function watcher (url: string, token: string, sentAt: Map<number, number>, w: number, h: number, hists: Histogram[]): Promise<Watcher> {
  let lastSeq = -1
  let onSync = () => {}
  const st = { delivered: 0, seqErrors: 0, closeCode: null as number | null, synced: new Promise<void>((resolve) => { onSync = resolve }) }
  const ws = await open(url, token, (b, bin) => {
    if (!bin) return
    const now = performance.now()
    const res = decodeServerBinary(b)
    if (!res.ok) { st.seqErrors++; return } // a malformed frame breaks the stream as a gap would
    const f = res.value
    if (f.kind === 'snapshot') { lastSeq = f.seq; onSync(); return }
    if (f.kind !== 'updates') return
    if (lastSeq >= 0 && f.seq - f.count !== lastSeq) st.seqErrors++ // a gap or a duplicate (seq is after the last pixel)
    lastSeq = f.seq
    for (let o = 0; o < f.records.length; o += PIXEL_RECORD_BYTES) {
      const { x, y, color: n } = readPixelRecord(f.records, o)
      const sent = sentAt.get(n)
      const p = pixelAt(n, w, h)
      if (sent === undefined || p.x !== x || p.y !== y) continue
      st.delivered++
      for (const hist of hists) hist.add(now - sent)
    }
  })
  ws.on('close', (code) => { st.closeCode = code })
  return Object.assign(st, { ws })
}

export interface Painter { ws: WebSocket, rejected: Record<string, number>, closeCode: number | null }

/** A painter; every `error` it gets is one rejected PIXEL (each message is one pixel). */
export async function painter (url: string, token: string): Promise<Painter> {
  const rejected: Record<string, number> = {}
  const ws = await open(url, token, (d, bin) => {
    const m = bin ? null : JSON.parse(d.toString())
    if (m?.type === 'error') rejected[m.code] = (rejected[m.code] ?? 0) + 1
  })
  const p: Painter = { ws, rejected, closeCode: null }
  ws.on('close', (code) => { p.closeCode = code })
  return p
}

const CLOSE_NAMES: Record<number, string> = { 1006: 'no close frame', 4008: 'slow consumer', 4012: 'heartbeat timeout' }
const closeName = (code: number) => `${code}${code in CLOSE_NAMES ? ` ${CLOSE_NAMES[code]}` : ''}`

/** A client that stopped reading: its socket, and how it ended once read again. */
export interface Held { since: number, localPort: number, resume: () => void, ended: Promise<string> }

/** Slow client: a real ws client that takes hello and snapshot, then pauses its socket and never reads again. */
export async function slowClient (url: string, token: string): Promise<Held> {
  let onSnapshot = () => {}
  const snapshot = new Promise<void>((resolve) => { onSnapshot = resolve })
  const ws = await open(url, token, (d, bin) => { if (bin && d[0] === Op.SNAPSHOT) onSnapshot() })
  const ended = new Promise<string>((resolve) => ws.once('close', (code) => resolve(`close code ${closeName(code)}`)))
  ws.on('error', () => {})
  if (!await within(snapshot, 10_000)) throw new Error('slow client: no snapshot')
  const socket = (ws as unknown as { _socket: Socket })._socket
  socket.pause()
  return { since: performance.now(), localPort: socket.localPort ?? 0, resume: () => socket.resume(), ended }
}

/** The close code in a stream of server (unmasked) frames, if it holds a close frame. */
function closeFrame (buf: Buffer): string {
  for (let o = 0; o + 2 <= buf.length;) {
    let len = buf[o + 1] & 0x7f
    let head = 2
    if (len === 126 && o + 4 <= buf.length) { len = buf.readUInt16BE(o + 2); head = 4 }
    if (len === 127 && o + 10 <= buf.length) { len = Number(buf.readBigUInt64BE(o + 2)); head = 10 }
    if (o + head + len > buf.length) break
    if ((buf[o] & 0x0f) === 8) return `close frame ${len >= 2 ? closeName(buf.readUInt16BE(o + head)) : 'without code'}`
    o += head + len
  }
  return 'no close frame (EOF)'
}

/** Dead client: a hand-made upgrade over raw TCP, then silence: it never reads, writes, or answers a ping. */
export function deadClient (port: number, token: string): Promise<Held> {
  const key = randomBytes(16).toString('base64')
  const accept = createHash('sha1').update(key + '258EAFA5-E914-47DA-95CA-C5AB0DC85B11').digest('base64')
  return new Promise((resolve, reject) => {
    const socket = tcpConnect({ host: '127.0.0.1', port })
    const chunks: Buffer[] = []
    let upgraded = false
    const ended = new Promise<string>((resolve) => socket.once('close', () => resolve(closeFrame(Buffer.concat(chunks)))))
    socket.on('error', reject) // before the upgrade it fails the soak; after it, close tells
    socket.on('data', (d: Buffer) => {
      chunks.push(d)
      const all = Buffer.concat(chunks)
      const end = all.indexOf('\r\n\r\n')
      if (upgraded || end < 0) return
      upgraded = true
      const head = all.subarray(0, end).toString()
      if (!head.startsWith('HTTP/1.1 101') || !head.includes(accept)) return reject(new Error(`dead client refused: ${head.split('\r\n')[0]}`))
      chunks.splice(0, chunks.length, all.subarray(end + 4))
      socket.pause()
      resolve({ since: performance.now(), localPort: socket.localPort ?? 0, resume: () => socket.resume(), ended })
    })
    socket.write(`GET /ws HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
      `Sec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\nAuthorization: Bearer ${token}\r\n\r\n`)
  })
}

export type FloodCounts = Record<'101' | '429' | '503' | 'other' | 'skipped', number> & { inflight: number, errors: Set<string> }

/** Handshake flood: `perSec` upgrades with valid tokens, each closed as soon as it opens. At most 500 in flight. */
export function flood (url: string, sign: Sign, perSec: number): { counts: FloodCounts, stop: () => void } {
  const counts: FloodCounts = { 101: 0, 429: 0, 503: 0, other: 0, skipped: 0, inflight: 0, errors: new Set() }
  const t0 = performance.now()
  let started = 0
  const timer = setInterval(() => {
    const due = Math.floor(perSec * (performance.now() - t0) / 1000)
    for (; started < due; started++) {
      if (counts.inflight >= 500) { counts.skipped++; continue }
      counts.inflight++
      const ws = new WebSocket(url, { headers: { authorization: `Bearer ${sign(`flood-${started}`, 'viewer')}` }, handshakeTimeout: 5000 })
      let counted = false // one outcome per attempt: an error after a 101 is not another one
      const count = (k: '101' | '429' | '503' | 'other') => { if (!counted) counts[k]++; counted = true }
      ws.once('upgrade', () => count('101'))
      ws.once('open', () => ws.close(1000))
      ws.once('error', (err) => {
        const status = /Unexpected server response: (\d+)/.exec(err.message)?.[1]
        if (status === '429' || status === '503') return count(status)
        if (!counted) counts.errors.add(err.message.slice(0, 80))
        count('other')
      })
      ws.once('close', () => counts.inflight--)
    }
  }, 20)
  return { counts, stop: () => clearInterval(timer) }
}
