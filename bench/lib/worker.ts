// One load-generator process of the bench: Node `ws` (or socket.io-client)
// clients driven by the orchestrator over IPC. A process either receives
// (many clients, counting pixels and timing a sample of them), paints (a few
// clients sending pixels at a steady total rate), or joins (a join storm).
//
// Every pixel carries its send time in its colour (lib/stats.ts), so any
// process can time it. Receivers count pixels in O(1) per frame; only
// sampled receivers decode records, and only pixels with x % 8 === 0.
//
// pixelwire's clients (and baseline (d)'s, which speaks its protocol) are
// the client library's (pixelwire/client) in its low-level mode
// (lib/lib-client.ts): the library connects (token, hello, SNAPSHOT) and
// hands each UPDATES frame over as it arrived, read from `ws`'s own
// `message` event, its header read by the wire module; no local canvas,
// no decoding, no promise per pixel: this process generates the load, and
// its cost per frame must stay what it was (a decode per frame took it from
// 129% to 155% of a core at saturation once, commit e651466; the library's
// path against raw `ws`: bench/client-recv.ts).
import { createSigner } from 'fast-jwt'
import WebSocket from 'ws'
import { io as sioConnect, type Socket as SioSocket } from 'socket.io-client'
import type { Socket as NetSocket } from 'node:net'
import { monitorEventLoopDelay } from 'node:perf_hooks'
import {
  Op, PIXEL_RECORD_BYTES, UPDATES_HEADER_BYTES, encodePixel, encodePixels, readRgb, writePixelRecord, type Role
} from '../../src/protocol/wire.js'
import { openLibClient } from './lib-client.js'
import { ageMs, clockMs, Histogram, stampNow } from './stats.js'

export type Kind = 'pixelwire' | 'ws' | 'sio'

export interface ClientSet {
  kind: Kind
  /** ws://127.0.0.1:port/ws (pixelwire, ws) or http://127.0.0.1:port (sio) */
  url: string
  secret: string
  /** JWT subs are `${prefix}-${from + i}` */
  prefix: string
  from: number
  count: number
  role: Exclude<Role, 'painter'>
  /** decode and time every nth client's pixels (0: none) */
  sampleEvery: number
  /** every nth client stops reading once it has its first frame (0: none) */
  slowEvery: number
  /** ask baselines for a snapshot on connect (join storm) */
  snapshot: boolean
}

export type Command =
  | { type: 'connect', set: ClientSet, concurrency: number }
  | { type: 'paint', rate: number, durationMs: number, stroke: number, width: number, height: number }
  | { type: 'join', set: ClientSet, perSec: number, timeoutMs: number }
  | { type: 'mark' }
  | { type: 'loopReset' }
  | { type: 'report' }
  | { type: 'exit' }

export interface Report {
  type: 'report'
  received: number
  open: number
  closes: Record<string, number>
  errors: string[]
  hist: ReturnType<Histogram['toJSON']>
  /** this process's event-loop delay since loopReset (ms): how late it could have read what arrived */
  loop: { p50: number, p99: number, max: number }
}

const send = (m: object) => process.send?.(m)
// Is the load generator itself late? A receiver's latency includes this.
const loop = monitorEventLoopDelay({ resolution: 10 })
loop.enable()

interface Client {
  close: () => void
  /** one PIXEL */
  sendPixel: (x: number, y: number, color: number) => void
  /** one PIXELS op of packed records */
  sendPixels: (records: Buffer) => void
  isOpen: () => boolean
}

const clients: Client[] = []
const hist = new Histogram()
const closes: Record<string, number> = {}
const errors = new Set<string>()
let received = 0
let rejected = 0

const RECORD = PIXEL_RECORD_BYTES

/** Records from `off` to the end of a frame (UPDATES, or a baseline's PIXEL / batch). */
function onPixels (buf: Uint8Array, off: number, sampled: boolean): void {
  if (!sampled) { received += ((buf.length - off) / RECORD) | 0; return }
  const now = stampNow()
  let n = 0
  for (let o = off; o + RECORD <= buf.length; o += RECORD) {
    n++
    if ((buf[o + 1] & 7) !== 0) continue // x % 8 (the low byte of x)
    hist.add(ageMs(readRgb(buf, o + 4), now))
  }
  received += n
}

interface OpenOpts { set: ClientSet, index: number, counted: boolean, onSnapshot?: () => void }

// The library's UPDATES callbacks (low-level mode): the header was read and checked by the library.
const countFrame = (_frame: Uint8Array, _seq: number, count: number): void => { received += count }
const sampleFrame = (frame: Uint8Array): void => onPixels(frame, UPDATES_HEADER_BYTES, true)
const ignoreFrame = (): void => {}

/**
 * A pixelwire client (the library, lib/lib-client.ts), resolved once live
 * (its SNAPSHOT in). It does not reconnect: its first close is counted and
 * ends it, as the other kinds' sockets.
 */
function openPixelwire (set: ClientSet, token: string, sampled: boolean, slow: boolean, counted: boolean, onSnapshot?: () => void): Promise<Client> {
  let socketError: Error | undefined
  const c = openLibClient({
    url: set.url,
    token,
    slow,
    onSocketError: (err) => { errors.add(err.message.slice(0, 100)); socketError = err },
    onUpdatesFrame: slow || !counted ? ignoreFrame : sampled ? sampleFrame : countFrame
  })
  if (onSnapshot !== undefined) c.once('snapshot', onSnapshot)
  // A painter's refusals (admins: only the server's own trouble, e.g. UNAVAILABLE).
  if (set.role === 'admin') c.on('error', () => { rejected++ })
  const client: Client = {
    close: () => c.close(),
    sendPixel: (x, y, color) => { c.sendPixel(x, y, color) },
    sendPixels: (records) => { c.sendPixels(records) },
    isOpen: () => c.state === 'live'
  }
  return new Promise((resolve, reject) => {
    c.on('close', (code) => {
      closes[code] = (closes[code] ?? 0) + 1
      c.close() // no reconnect; before live, connect() rejects
      reject(socketError ?? new Error(`closed ${code} before ready`))
    })
    c.connect().then(() => resolve(client), reject)
  })
}

/** Open one client; resolves once it is ready to receive (pixelwire: synced by its SNAPSHOT). */
function openClient ({ set, index, counted, onSnapshot }: OpenOpts, sign: (p: object) => string): Promise<Client> {
  const token = sign({ sub: `${set.prefix}-${set.from + index}`, role: set.role })
  const sampled = counted && set.sampleEvery > 0 && (index + 1) % set.sampleEvery === 0 // never the slow ones (index % slowEvery === 0)
  const slow = set.slowEvery > 0 && index % set.slowEvery === 0
  if (set.kind === 'pixelwire') return openPixelwire(set, token, sampled, slow, counted, onSnapshot)
  return new Promise((resolve, reject) => {
    let first = true
    let client: Client & { pause: () => void }
    let ready = false
    const done = (err?: Error) => {
      if (ready) return
      ready = true
      if (err !== undefined) reject(err)
      else resolve(client)
    }
    const onBinary = (b: Buffer) => {
      if (first) {
        first = false
        if (slow) client.pause()
      }
      const op = b[0]
      if (op === Op.SNAPSHOT) { onSnapshot?.(); if (set.snapshot) done(); return }
      if (slow || !counted) return
      if (op === Op.PIXEL || op === Op.PIXELS) onPixels(b, 1, sampled) // baselines: a PIXEL re-sent, or (c)'s 0x01 + records
    }
    if (set.kind === 'sio') {
      const s: SioSocket = sioConnect(set.url, {
        transports: ['websocket'],
        auth: { token, snapshot: set.snapshot },
        reconnection: false,
        forceNew: true,
        timeout: 20_000
      })
      client = {
        close: () => s.disconnect(),
        sendPixel: (x, y, color) => s.emit('px', encodePixel(x, y, color, allocBuffer)),
        sendPixels: (records) => s.emit('px', encodePixels(records, allocBuffer)),
        pause: () => {
          // the engine.io websocket transport's ws client, and its TCP socket
          const ws = (s.io.engine.transport as unknown as { ws: { _socket: NetSocket } }).ws
          ws._socket.pause()
        },
        isOpen: () => s.connected
      }
      s.on('px', onBinary)
      s.on('snap', onBinary)
      s.on('connect', () => { if (!set.snapshot) done() })
      s.on('connect_error', (err) => done(err))
      s.on('disconnect', (reason) => { closes[reason] = (closes[reason] ?? 0) + 1 })
      return
    }
    const url = set.kind === 'ws' && set.snapshot ? `${set.url}?snapshot=1` : set.url
    const ws = new WebSocket(url, { headers: { authorization: `Bearer ${token}` }, handshakeTimeout: 20_000, perMessageDeflate: false, skipUTF8Validation: true })
    client = {
      close: () => ws.terminate(),
      sendPixel: (x, y, color) => ws.send(encodePixel(x, y, color, allocBuffer)),
      sendPixels: (records) => ws.send(encodePixels(records, allocBuffer)),
      pause: () => (ws as unknown as { _socket: NetSocket })._socket.pause(),
      isOpen: () => ws.readyState === WebSocket.OPEN
    }
    ws.on('message', (d: Buffer, bin: boolean) => {
      if (bin) onBinary(d)
      else if (set.role === 'admin' && d.includes('"error"')) rejected++
    })
    ws.once('open', () => { if (!set.snapshot) done() })
    ws.on('error', (err) => { errors.add(err.message.slice(0, 100)); done(err) })
    ws.on('close', (code) => { closes[code] = (closes[code] ?? 0) + 1; done(new Error(`closed ${code} before ready`)) })
  })
}

const signerFor = (secret: string) => createSigner({ key: secret, algorithm: 'HS256', expiresIn: 3_600_000 })

async function connectAll (set: ClientSet, concurrency: number): Promise<{ connected: number, failed: number }> {
  const sign = signerFor(set.secret)
  let next = 0
  let failed = 0
  const counted = set.role !== 'admin'
  async function lane (): Promise<void> {
    while (next < set.count) {
      const index = next++
      for (let attempt = 1; ; attempt++) {
        try {
          clients.push(await openClient({ set, index, counted }, sign))
          break
        } catch (err) {
          errors.add((err as Error).message.slice(0, 100))
          if (attempt >= 3) { failed++; break }
          await new Promise((resolve) => setTimeout(resolve, 500 * attempt))
        }
      }
    }
  }
  await Promise.all(Array.from({ length: Math.min(concurrency, set.count) }, lane))
  return { connected: clients.length, failed }
}

const allocBuffer = (size: number) => Buffer.allocUnsafe(size)

/** Send `rate` pixels/s in total, round-robin over this process's clients, as PIXEL (stroke 1) or PIXELS ops. */
function paint (rate: number, durationMs: number, stroke: number, width: number, height: number): Promise<number> {
  let n = 0
  const t0 = performance.now()
  return new Promise((resolve) => {
    const timer = setInterval(() => {
      const elapsed = Math.min(durationMs, performance.now() - t0)
      const due = Math.floor(rate * elapsed / 1000)
      const last = elapsed >= durationMs
      for (;;) {
        if (n + stroke > due && !(last && n < due)) break
        const k = Math.min(stroke, due - n)
        const stamp = stampNow()
        if (stroke === 1) {
          const x = n % width
          const y = Math.floor(n / width) % height
          n++
          clients[(n / stroke | 0) % clients.length].sendPixel(x, y, stamp)
        } else {
          const records = Buffer.allocUnsafe(RECORD * k)
          for (let i = 0; i < k; i++, n++) writePixelRecord(records, i * RECORD, n % width, Math.floor(n / width) % height, stamp)
          clients[(n / stroke | 0) % clients.length].sendPixels(records)
        }
      }
      if (elapsed >= durationMs) { clearInterval(timer); resolve(n) }
    }, 5)
  })
}

/** A join storm: open set.count clients at perSec, each timed from its first byte out to its SNAPSHOT. */
async function joinStorm (set: ClientSet, perSec: number, timeoutMs: number) {
  const sign = signerFor(set.secret)
  const joins = new Histogram()
  let got = 0
  let failed = 0
  const t0 = performance.now()
  const all: Promise<void>[] = []
  for (let i = 0; i < set.count; i++) {
    const wait = t0 + i * 1000 / perSec - performance.now()
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait))
    const start = clockMs()
    all.push(openClient({ set: { ...set, snapshot: true }, index: i, counted: false, onSnapshot: () => { got++; joins.add(clockMs() - start) } }, sign)
      .then((c) => { clients.push(c) }, (err: Error) => { failed++; errors.add(err.message.slice(0, 100)) }))
  }
  await Promise.race([Promise.all(all), new Promise((resolve) => setTimeout(resolve, timeoutMs))])
  return { got, failed, spreadMs: performance.now() - t0, hist: joins.toJSON() }
}

process.on('message', (m: Command) => {
  (async () => {
    switch (m.type) {
      case 'connect': return send({ type: 'ready', ...await connectAll(m.set, m.concurrency), errors: [...errors] })
      case 'paint': { const sent = await paint(m.rate, m.durationMs, m.stroke, m.width, m.height); return send({ type: 'painted', sent, rejected: rejected * m.stroke }) }
      case 'join': return send({ type: 'joined', ...await joinStorm(m.set, m.perSec, m.timeoutMs), errors: [...errors] })
      case 'mark': return send({ type: 'marked', received })
      case 'loopReset': loop.reset(); return send({ type: 'loopReset' })
      case 'report': {
        const ms = (ns: number) => ns / 1e6
        const r: Report = { type: 'report', received, open: clients.filter((c) => c.isOpen()).length, closes, errors: [...errors], hist: hist.toJSON(), loop: { p50: ms(loop.percentile(50)), p99: ms(loop.percentile(99)), max: ms(loop.max) } }
        return send(r)
      }
      case 'exit':
        for (const c of clients) c.close()
        setTimeout(() => process.exit(0), 200)
    }
  })().catch((err: Error) => { send({ type: 'fatal', message: err.stack }); process.exit(1) })
})
process.on('disconnect', () => process.exit(0))
send({ type: 'up' })
