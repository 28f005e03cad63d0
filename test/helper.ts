// One way to get a server in a test: build(t, env) returns a ready app on a
// temp DATA_DIR with a fixed secret, closed in teardown. listen() puts it on
// an ephemeral port for tests that need real sockets.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Fastify, { type FastifyInstance } from 'fastify'
import { createSigner } from 'fast-jwt'
import { inflateSync } from 'node:zlib'
import WebSocket from 'ws'
import app, { serverOptions } from '../src/app.js'
import { loadConfig, type Config } from '../src/config.js'
import { PIXEL_RECORD_BYTES, encodePixel, encodePixels, encodeRect, packRgb, writePixelRecord } from '../src/protocol/wire.js'

export const SECRET = 'test-secret-test-secret-test-secret-0123'

type Tap = { teardown (fn: () => unknown): void }

export function tempDir (t: Tap, prefix = 'pixelwire-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  return dir
}

export interface Built { app: FastifyInstance, config: Config, dataDir: string }

export async function build (t: Tap, env: Record<string, string> = {}, logStream?: NodeJS.WritableStream): Promise<Built> {
  const dataDir = env.DATA_DIR ?? tempDir(t)
  const config = loadConfig({ JWT_SECRET: SECRET, LOG_LEVEL: 'silent', HEARTBEAT_MS: '60000', ...env, DATA_DIR: dataDir })
  const opts = serverOptions(config)
  if (logStream !== undefined) opts.logger = { ...(opts.logger as object), level: 'trace', stream: logStream }
  // Boot time is not under test here: on a loaded CI machine the first
  // autoload compiles every route through tsx and can pass Fastify's 10 s
  // plugin deadline ("Plugin did not start in time: 'autoload'").
  opts.pluginTimeout = Math.max(opts.pluginTimeout ?? 0, 60_000)
  const server = Fastify(opts)
  await server.register(app, { config })
  await server.ready()
  t.teardown(() => server.close())
  return { app: server, config, dataDir }
}

export interface Listening extends Built { port: number, url: string, wsUrl: string }

export async function listen (t: Tap, env: Record<string, string> = {}, logStream?: NodeJS.WritableStream): Promise<Listening> {
  const built = await build(t, env, logStream)
  await built.app.listen({ port: 0, host: '127.0.0.1' })
  const { port } = built.app.server.address() as { port: number }
  return { ...built, port, url: `http://127.0.0.1:${port}`, wsUrl: `ws://127.0.0.1:${port}/ws` }
}

export function token (claims: Record<string, unknown> = {}, opts: { secret?: string, ttlSec?: number } = {}): string {
  const sign = createSigner({ key: opts.secret ?? SECRET, algorithm: 'HS256', expiresIn: (opts.ttlSec ?? 3600) * 1000 })
  return sign({ sub: 'alice', role: 'painter', ...claims })
}

export type Msg = { bin: Buffer, json?: undefined } | { json: any, bin?: undefined }

/** A real ws client that records every message; next() waits for one matching. */
export class TestClient {
  readonly ws: WebSocket
  readonly msgs: Msg[] = []
  readonly opened: Promise<void>
  readonly closed: Promise<{ code: number, reason: string }>
  private waiters: Array<{ pred: (m: Msg) => boolean, resolve: (m: Msg) => void }> = []

  /** `localAddress`: the source address of the socket (e.g. 127.0.0.3: a client another loopback address than the test's) */
  constructor (url: string, opts: { token?: string, protocols?: string[], headers?: Record<string, string>, localAddress?: string } = {}) {
    const headers = { ...opts.headers }
    if (opts.token !== undefined) headers.authorization = `Bearer ${opts.token}`
    this.ws = new WebSocket(url, opts.protocols, { headers, ...(opts.localAddress !== undefined ? { localAddress: opts.localAddress } : {}) })
    this.ws.on('message', (data: Buffer, isBinary: boolean) => {
      const m: Msg = isBinary ? { bin: Buffer.from(data) } : { json: JSON.parse(data.toString()) }
      const w = this.waiters.find((w) => w.pred(m))
      if (w !== undefined) {
        this.waiters.splice(this.waiters.indexOf(w), 1)
        w.resolve(m)
      } else {
        this.msgs.push(m)
      }
    })
    this.ws.on('error', () => {})
    this.opened = new Promise((resolve, reject) => {
      this.ws.once('open', () => resolve())
      this.ws.once('unexpected-response', (_req, res) => reject(new Error(`HTTP ${res.statusCode}`)))
      this.ws.once('close', () => reject(new Error('closed')))
    })
    this.opened.catch(() => {})
    this.closed = new Promise((resolve) => this.ws.once('close', (code, reason) => resolve({ code, reason: reason.toString() })))
  }

  next (pred: (m: Msg) => boolean, ms = 3000): Promise<Msg> {
    const i = this.msgs.findIndex(pred)
    if (i >= 0) return Promise.resolve(this.msgs.splice(i, 1)[0])
    return new Promise((resolve, reject) => {
      const w = {
        pred,
        resolve: (m: Msg) => { clearTimeout(timer); resolve(m) }
      }
      const timer = setTimeout(() => {
        this.waiters.splice(this.waiters.indexOf(w), 1)
        reject(new Error(`no matching message within ${ms} ms`))
      }, ms)
      this.waiters.push(w)
    })
  }

  /** Resolves true if a matching message arrives within ms, false otherwise. */
  async nothing (pred: (m: Msg) => boolean, ms = 300): Promise<boolean> {
    try {
      await this.next(pred, ms)
      return false
    } catch {
      return true
    }
  }

  send (data: Uint8Array | string): void { this.ws.send(data) }
  close (): void { this.ws.close() }
}

export const isHello = (m: Msg) => m.json?.type === 'hello'
export const isSnapshot = (m: Msg) => m.bin?.[0] === 0x10
export const isUpdates = (m: Msg) => m.bin?.[0] === 0x11
export const isError = (code: string) => (m: Msg) => m.json?.type === 'error' && m.json.code === code
export const isType = (type: string) => (m: Msg) => m.json?.type === type

/** A real client on `canvas`, past its hello (returned too) and snapshot. */
export async function joinClient (srv: Listening, claims: Record<string, unknown>, canvas = 'main'): Promise<{ c: TestClient, id: number, hello: any }> {
  const c = new TestClient(`${srv.wsUrl}?canvas=${canvas}`, { token: token(claims) })
  await c.opened
  const hello = (await c.next(isHello)).json
  await c.next(isSnapshot)
  return { c, id: hello.connectionId, hello }
}

/** The next UPDATES frame that paints (x, y). */
export const drew = (c: TestClient, x: number, y: number): Promise<Msg> =>
  c.next((m) => isUpdates(m) && parseUpdates(m.bin as Buffer).px.some((p) => p[0] === x && p[1] === y))

/** HTTP status and body of a handshake the server refuses (or 101). */
export function handshake (url: string, opts: { headers?: Record<string, string>, protocols?: string[] } = {}): Promise<{ status: number, body: string, headers: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, opts.protocols, { headers: opts.headers })
    ws.on('unexpected-response', (_req, res) => {
      let body = ''
      res.on('data', (d: Buffer) => { body += d.toString() })
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, headers: res.headers }))
    })
    ws.on('open', () => { ws.close(); resolve({ status: 101, body: '', headers: {} }) })
    ws.on('error', (err) => { if (!/Unexpected server response/.test(err.message)) reject(err) })
  })
}

// Independent decoders of server frames (not the codec under test).
export function parseUpdates (b: Buffer): { seq: number, px: Array<[number, number, number, number, number]> } {
  const seq = Number(b.readBigUInt64BE(1))
  const count = b.readUInt32BE(9)
  if (b.length !== 13 + 7 * count) throw new Error(`UPDATES length ${b.length} does not match count ${count}`)
  const px: Array<[number, number, number, number, number]> = []
  for (let i = 0; i < count; i++) {
    const o = 13 + i * 7
    px.push([b.readUInt16BE(o), b.readUInt16BE(o + 2), b[o + 4], b[o + 5], b[o + 6]])
  }
  return { seq, px }
}

export function parseSnapshot (b: Buffer): { seq: number, w: number, h: number, enc: number, px: Buffer, at (x: number, y: number): number[] } {
  const seq = Number(b.readBigUInt64BE(1))
  const w = b.readUInt16BE(9)
  const h = b.readUInt16BE(11)
  const enc = b[13]
  const px = enc === 1 ? inflateSync(b.subarray(14)) : b.subarray(14)
  return { seq, w, h, enc, px, at: (x, y) => [...px.subarray((y * w + x) * 3, (y * w + x) * 3 + 3)] }
}

// Draw ops as a client sends them: the wire module's encoders (a client's
// production path), in Buffers. Malformed ops are written by hand where a
// test needs one.
const buffer = (size: number) => Buffer.alloc(size)

export const pixel = (x: number, y: number, r: number, g: number, b: number): Buffer =>
  encodePixel(x, y, packRgb(r, g, b), buffer)

export const stroke = (pts: Array<[number, number, number, number, number]>): Buffer => {
  const records = Buffer.alloc(PIXEL_RECORD_BYTES * pts.length)
  pts.forEach(([x, y, r, g, b], i) => writePixelRecord(records, PIXEL_RECORD_BYTES * i, x, y, packRgb(r, g, b)))
  return encodePixels(records, buffer)
}

export const rect = (x: number, y: number, w: number, h: number, r: number, g: number, b: number): Buffer =>
  encodeRect(x, y, w, h, packRgb(r, g, b), buffer)

/**
 * Collect UPDATES until n pixels arrived; returns them with the last seq.
 * `ms` bounds the whole wait, or with `{ stall: true }` each gap between two
 * frames: for floods of megabytes, whose total time is the machine's load
 * (not the server's behaviour), while a stream that stops is still caught.
 * A client closed before n pixels fails at once, saying with which code
 * (the frames left would never come).
 */
export async function collect (c: TestClient, n: number, ms = 3000, opts: { stall?: boolean } = {}): Promise<{ px: Array<[number, number, number, number, number]>, seq: number, frames: Buffer[] }> {
  const px: Array<[number, number, number, number, number]> = []
  const frames: Buffer[] = []
  let seq = -1
  let end = Date.now() + ms
  // Frames always precede the close event, so a frame already received wins this race.
  const closed = c.closed.then(({ code, reason }) => { throw new Error(`closed with ${code} ${reason} after ${px.length} of ${n} pixels`) })
  closed.catch(() => {})
  while (px.length < n) {
    const m = await Promise.race([c.next(isUpdates, Math.max(1, end - Date.now())), closed])
    if (opts.stall === true) end = Date.now() + ms
    const u = parseUpdates(m.bin as Buffer)
    frames.push(m.bin as Buffer)
    for (const p of u.px) px.push(p) // not push(...): frames can hold 100k+ pixels
    seq = u.seq
  }
  return { px, seq, frames }
}

/** Poll `cond` until it is true (or throws nothing and returns true); rejects with `what` after `ms`. */
export async function until (cond: () => boolean | Promise<boolean>, ms: number, what: string, everyMs = 50): Promise<void> {
  const end = Date.now() + ms
  let last: unknown
  for (;;) {
    try {
      if (await cond()) return
    } catch (err) {
      last = err
    }
    if (Date.now() > end) throw new Error(`${what}: not within ${ms} ms${last !== undefined ? ` (last error: ${(last as Error).message})` : ''}`)
    await new Promise((resolve) => setTimeout(resolve, everyMs))
  }
}
