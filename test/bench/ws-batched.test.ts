// Baseline (d) of the bench (bench/baselines/ws-batched.ts) must speak
// enough of pixelwire's protocol for the bench's pixelwire clients, or the
// bench would compare pixelwire with a server that delivers nothing: hello,
// a deflated SNAPSHOT, UPDATES in the wire layout with a continuous seq,
// draws only from painters and admins; the bench's pixelwire clients (the
// client library in low-level mode, bench/lib/lib-client.ts) go live on it
// and read its UPDATES; and the bench's worker processes, driven over IPC,
// count, time, pause and join as the bench needs.
// A real child process, real sockets; the frames are decoded here by hand,
// independently of src/protocol.
import { inflateSync } from 'node:zlib'
import { createSigner } from 'fast-jwt'
import t, { type Test } from 'tap'
import WebSocket from 'ws'
import { run, within } from '../process.js'
import { spawn } from 'node:child_process'
import { openLibClient } from '../../bench/lib/lib-client.js'
import type { ClientSet, Command, Report } from '../../bench/lib/worker.js'

const SECRET = 'bench-baseline-d-test-secret-0123456789'
const sign = createSigner({ key: SECRET, algorithm: 'HS256', expiresIn: 60_000 })

async function startBaseline (t: Test): Promise<string> {
  const proc = run(t, ['bench/baselines/ws-batched.ts'], { JWT_SECRET: SECRET, PORT: '0', TICK_MS: '20' })
  const port = await within(new Promise<number>((resolve, reject) => {
    proc.child.stdout!.on('data', () => {
      const m = /^listening (\d+)$/m.exec(proc.out())
      if (m !== null) resolve(Number(m[1]))
    })
    proc.exited.then(({ code }) => reject(new Error(`exited (${code}): ${proc.err()}`)))
  }), 20_000, 'baseline (d) listening')
  return `ws://127.0.0.1:${port}/ws`
}

interface Client { ws: WebSocket, texts: string[], binaries: Buffer[], next: (n: number) => Promise<void> }

/** A client that keeps every message; `next(n)` waits until n binary messages have arrived. */
async function connect (url: string, sub: string, role: string): Promise<Client> {
  const ws = new WebSocket(url, { headers: { authorization: `Bearer ${sign({ sub, role })}` } })
  const c: Client = { ws, texts: [], binaries: [], next: async () => {} }
  let wake = () => {}
  ws.on('message', (d: Buffer, bin: boolean) => { if (bin) c.binaries.push(d); else c.texts.push(d.toString()); wake() })
  c.next = (n) => within(new Promise<void>((resolve) => {
    wake = () => { if (c.binaries.length >= n) resolve() }
    wake()
  }), 10_000, `${sub}: ${n} binary messages`)
  await c.next(1)
  return c
}

const record = (x: number, y: number, rgb: number) => {
  const r = Buffer.alloc(7)
  r.writeUInt16BE(x, 0); r.writeUInt16BE(y, 2); r[4] = rgb >> 16; r[5] = (rgb >> 8) & 0xff; r[6] = rgb & 0xff
  return r
}

/** The canvas of a SNAPSHOT: op 0x10, seq u64, width u16, height u16, encoding u8 (1: deflated), RGB rows. */
function snapshot (b: Buffer) {
  return { op: b[0], seq: Number(b.readBigUInt64BE(1)), width: b.readUInt16BE(9), height: b.readUInt16BE(11), encoding: b[13], pixels: b[13] === 1 ? inflateSync(b.subarray(14)) : b.subarray(14) }
}

t.test('baseline (d): 401 without a token; hello and a deflated SNAPSHOT on join', async (t) => {
  const url = await startBaseline(t)
  const refused = await new Promise<string>((resolve) => new WebSocket(url).once('error', (err) => resolve(err.message)))
  t.match(refused, /401/)

  const v = await connect(url, 'v', 'viewer')
  t.teardown(() => v.ws.terminate())
  const hello = JSON.parse(v.texts[0])
  t.match(hello, { type: 'hello', user: { id: 'v', role: 'viewer' }, canvas: { width: 1024, height: 1024, seq: 0 }, resume: 'snapshot' })
  const s = snapshot(v.binaries[0])
  t.match(s, { op: 0x10, seq: 0, width: 1024, height: 1024, encoding: 1 })
  t.ok(s.pixels.equals(Buffer.alloc(1024 * 1024 * 3, 0xff)), 'a blank white canvas')
})

t.test('baseline (d): painters\' PIXEL and PIXELS become UPDATES with a continuous seq; viewers and out-of-bounds records are ignored', async (t) => {
  const url = await startBaseline(t)
  const v = await connect(url, 'v', 'viewer')
  const p = await connect(url, 'p', 'painter')
  t.teardown(() => { v.ws.terminate(); p.ws.terminate() })

  v.ws.send(Buffer.concat([Buffer.from([0x00]), record(7, 7, 0x123456)])) // a viewer's draw: not applied
  p.ws.send(Buffer.concat([Buffer.from([0x00]), record(1, 2, 0x090909)]))
  const stroke = Buffer.concat([Buffer.from([0x01, 0, 3]), record(5000, 0, 0xaaaaaa), record(3, 0, 0x0a0b0c), record(4, 0, 0x0d0e0f)])
  p.ws.send(stroke)

  // Three pixels applied; a tick may fall between the two messages, so one or two UPDATES.
  const records: Buffer[] = []
  let seq = 0
  for (let i = 1; records.length < 3; i++) {
    await v.next(1 + i)
    const u = v.binaries[i]
    t.equal(u[0], 0x11, 'UPDATES')
    const count = u.readUInt32BE(9)
    t.equal(u.length, 13 + 7 * count, 'count matches the records')
    t.equal(Number(u.readBigUInt64BE(1)) - count, seq, 'seq continues: the frame\'s seq is the seq after its last pixel')
    seq = Number(u.readBigUInt64BE(1))
    for (let o = 13; o < u.length; o += 7) records.push(u.subarray(o, o + 7))
  }
  t.same(records, [record(1, 2, 0x090909), record(3, 0, 0x0a0b0c), record(4, 0, 0x0d0e0f)], 'in order, nothing else')
  t.equal(seq, 3)

  // A joiner's SNAPSHOT is at the seq of the last frame sent and holds those pixels.
  const j = await connect(url, 'j', 'viewer')
  t.teardown(() => j.ws.terminate())
  const s = snapshot(j.binaries[0])
  t.equal(s.seq, 3)
  const at = (x: number, y: number) => s.pixels.readUIntBE((y * 1024 + x) * 3, 3)
  t.same([at(1, 2), at(3, 0), at(4, 0), at(7, 7)], [0x090909, 0x0a0b0c, 0x0d0e0f, 0xffffff])
})

t.test('baseline (d) and the bench\'s pixelwire clients (the client library in low-level mode, bench/lib/lib-client.ts): live, reading its UPDATES; a slow one stops reading after its SNAPSHOT', async (t) => {
  const url = await startBaseline(t)
  // As bench/lib/worker.ts opens them: header token, no renewal, no heartbeat, nodebuffer, frames handed over raw.
  const open = (sub: string, role: string, onUpdatesFrame: (f: Uint8Array, seq: number, count: number) => void = () => {}, slow = false) => {
    const c = openLibClient({ url, token: sign({ sub, role }), onUpdatesFrame, slow })
    t.teardown(() => c.close())
    return c
  }
  const frames: Array<{ bytes: Buffer, seq: number, count: number }> = []
  let slowFrames = 0
  const v = open('v', 'viewer', (f, seq, count) => { frames.push({ bytes: Buffer.from(f), seq, count }) })
  const s = open('s', 'viewer', () => { slowFrames++ }, true)
  const p = open('p', 'admin')
  await within(Promise.all([v.connect(), s.connect(), p.connect()]), 10_000, 'all live')
  t.match(v.canvas, { width: 1024, height: 1024, seq: 0 })
  t.equal(s.state, 'live', 'the slow one went live (its SNAPSHOT was read)')
  t.ok(p.sendPixel(1, 2, 0x090909))
  t.ok(p.sendPixels(Buffer.concat([record(3, 0, 0x0a0b0c), record(4, 0, 0x0d0e0f)])))
  await within(new Promise<void>((resolve) => {
    const check = setInterval(() => { if (frames.reduce((a, f) => a + f.count, 0) >= 3) { clearInterval(check); resolve() } }, 20)
  }), 10_000, 'three pixels')
  const records: Buffer[] = []
  let seq = 0
  for (const f of frames) {
    t.equal(f.count, f.bytes.readUInt32BE(9), 'the count is the header\'s')
    t.equal(f.seq, Number(f.bytes.readBigUInt64BE(1)), 'so is the seq')
    t.equal(f.seq - f.count, seq, 'seq continues')
    seq = f.seq
    for (let o = 13; o < f.bytes.length; o += 7) records.push(f.bytes.subarray(o, o + 7))
  }
  t.same(records, [record(1, 2, 0x090909), record(3, 0, 0x0a0b0c), record(4, 0, 0x0d0e0f)])
  t.equal(v.canvas.seq, 3)
  t.equal(v.state, 'live')
  t.equal(slowFrames, 0, 'the slow one read no UPDATES')
  t.equal(s.canvas.seq, 0)
})

/** A load-generator process of the bench (bench/lib/worker.ts), called over IPC as bench.ts calls it. */
function worker (t: Test) {
  const child = spawn(process.execPath, ['--import', 'tsx', 'bench/lib/worker.ts'], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], env: { ...process.env, _TAPJS_PROCESSINFO_COVERAGE_: '0' } })
  t.teardown(() => { child.kill('SIGKILL') })
  const waiting = new Map<string, (m: any) => void>()
  const up = new Promise((resolve) => waiting.set('up', resolve))
  child.on('message', (m: { type: string, message?: string }) => {
    if (m.type === 'fatal') t.fail(`worker: ${m.message}`)
    const w = waiting.get(m.type)
    waiting.delete(m.type)
    w?.(m)
  })
  return async <T = any>(cmd: Command, reply: string): Promise<T> => {
    await within(up, 20_000, 'worker up')
    const p = new Promise<T>((resolve) => waiting.set(reply, resolve))
    child.send(cmd)
    return await within(p, 20_000, `worker: ${reply}`)
  }
}

t.test('the bench\'s worker processes on baseline (d): every pixel counted by the counted receivers, sampled ones timed (x % 8 === 0), slow ones not counted; strokes; a join storm times each SNAPSHOT', async (t) => {
  const url = await startBaseline(t)
  const set = (prefix: string, count: number, role: 'viewer' | 'admin', extra: Partial<ClientSet> = {}): ClientSet =>
    ({ kind: 'pixelwire', url, secret: SECRET, prefix, from: 0, count, role, sampleEvery: 0, slowEvery: 0, snapshot: false, ...extra })
  const rx = worker(t)
  const painter = worker(t)
  // 6 receivers: indexes 0 and 5 slow (index % 5), 2 sampled ((index + 1) % 3; 5 is slow): 4 counted
  t.match(await rx({ type: 'connect', set: set('r', 6, 'viewer', { sampleEvery: 3, slowEvery: 5 }), concurrency: 3 }, 'ready'), { connected: 6, failed: 0 })
  t.match(await painter({ type: 'connect', set: set('p', 2, 'admin'), concurrency: 2 }, 'ready'), { connected: 2, failed: 0 })
  t.match(await painter({ type: 'paint', rate: 400, durationMs: 250, stroke: 1, width: 1024, height: 1024 }, 'painted'), { sent: 100, rejected: 0 })
  t.match(await painter({ type: 'paint', rate: 4000, durationMs: 50, stroke: 20, width: 1024, height: 1024 }, 'painted'), { sent: 200, rejected: 0 })
  const counted = 4 * 300
  let received = 0
  for (let i = 0; i < 100 && received < counted; i++) {
    received = (await rx<{ received: number }>({ type: 'mark' }, 'marked')).received
    if (received < counted) await new Promise((resolve) => setTimeout(resolve, 100))
  }
  t.equal(received, counted, 'every pixel to each of the 4 counted receivers, once')
  const report = await rx<Report>({ type: 'report' }, 'report')
  t.match(report, { received: counted, open: 6, closes: {}, errors: [] })
  // The sampled receiver times its pixels with x % 8 === 0: x = 0..99, then 0..199 (each paint counts from 0).
  const timed = [...Array(100).keys(), ...Array(200).keys()].filter((x) => x % 8 === 0).length
  t.equal(report.hist.count, timed, 'the sampled receiver timed the pixels with x % 8 === 0')

  const joiner = worker(t)
  const joined = await joiner<{ got: number, failed: number, hist: { count: number } }>({ type: 'join', set: set('j', 5, 'viewer'), perSec: 50, timeoutMs: 10_000 }, 'joined')
  t.match(joined, { got: 5, failed: 0, hist: { count: 5 } }, 'each joiner timed to its SNAPSHOT')
})
