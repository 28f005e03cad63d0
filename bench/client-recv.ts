// The bench's receive path, side by side (issue 14): what a load-generator
// process (lib/worker.ts) pays per UPDATES frame it counts, with
//
//   A  raw `ws`: worker.ts's own path before the switch (copied below:
//      on('message') → first-frame check → op byte → count from the length)
//   A2 a second group exactly like A: what the harness itself varies
//   B  the client library (pixelwire/client) in low-level mode, opened as
//      worker.ts opens it (lib/lib-client.ts): on Node's `ws` it listens to
//      the socket's `message` event itself
//   C  the same library client reading through `onmessage` instead (a
//      MessageEvent per frame: the path commit 6cb5ea2 measured), by hiding
//      `on` from the library (a Proxy on the socket, off the per-frame path)
//
// The server is a plain `ws` server in a child process of this script, so
// that its sending is not counted (a load generator's process has no server
// in it): hello + SNAPSHOT on join, then per round one pre-framed UPDATES
// frame written to the clients of one variant, as the servers write it:
//   burst  a round's frames to each of --burst-clients (20) clients in one
//          write: many frames per read, the receive path's own cost;
//   paced  --ticks (50) ticks, --tick-ms (4) apart, one frame to each of
//          --clients (200) clients per tick: mostly one frame per read and
//          cold caches, as at saturation (~10-15 µs a frame there).
// Per round: process.cpuUsage() (user + system) of this process over a
// fixed number of frames, divided by the frames. Rounds run the variants in
// turn, each round starting one further (A A2 B C, A2 B C A, …), after
// warm-up rounds; median and best per frame, their ratios to A, and the
// paired ratio (the median over rounds of the variant's round ÷ A's in the
// same round).
//
//   taskset -c 1 npx tsx bench/client-recv.ts [--modes burst,paced] [--rounds 41] [--warmup 3]
//       [--sizes 10,500,1000] [--variants A,A2,B,C] [--clients 200] [--burst-clients 20]
//       [--ticks 50] [--tick-ms 4] [--out FILE]
import { fork, type ChildProcess } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import { deflateSync } from 'node:zlib'
import { fileURLToPath } from 'node:url'
import type { Socket as NetSocket } from 'node:net'
import { cpus, loadavg } from 'node:os'
import * as wsModule from 'ws'
import WebSocket, { WebSocketServer } from 'ws'
import {
  Op, PIXEL_RECORD_BYTES, SnapshotEncoding, UPDATES_HEADER_BYTES, encodeSnapshot, encodeUpdates, writePixelRecord
} from '../src/protocol/wire.js'
import type { PixelwireClient } from '../src/client-lib/index.js'
import { hidingOn, openLibClient, socketClass } from './lib/lib-client.js'

const arg = (name: string, def: string): string => {
  const i = process.argv.indexOf(`--${name}`)
  return i >= 0 && process.argv[i + 1] !== undefined ? process.argv[i + 1] : def
}

// ---------------------------------------------------------------- the server (child process)

/** ws's framer (`Sender.frame`): exported by ws 8, missing from @types/ws. */
const { Sender } = wsModule as unknown as { Sender: { frame (data: Buffer, o: object): Buffer[] } }

type ServerCmd = { type: 'round', group: string, count: number, size: number, ticks: number, tickMs: number, burst: boolean } | { type: 'exit' }

function serve (): void {
  const groups = new Map<string, NetSocket[]>()
  const W = 64
  const H = 64
  const snapshot = Buffer.from(encodeSnapshot(0, W, H, SnapshotEncoding.DEFLATE, deflateSync(Buffer.alloc(W * H * 3, 0xff))))
  let seq = 0
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: false, clientTracking: false })
  wss.on('connection', (ws, req) => {
    const group = new URL(req.url ?? '/', 'http://x').searchParams.get('group') ?? '?'
    const list = groups.get(group) ?? []
    groups.set(group, list)
    list.push((ws as unknown as { _socket: NetSocket })._socket)
    ws.on('error', () => {})
    ws.send(JSON.stringify({
      type: 'hello',
      connectionId: list.length,
      user: { id: 'u', name: 'u', role: 'viewer' },
      canvas: { id: 'main', width: W, height: H, seq, epoch: 'recv' },
      resume: 'snapshot',
      limits: {},
      heartbeatMs: 0
    }))
    ws.send(snapshot)
  })
  wss.on('listening', () => process.send!({ type: 'port', port: (wss.address() as { port: number }).port }))
  /** One UPDATES frame of `size` records, framed once (as the servers write it to every socket). */
  const framed = (size: number): Buffer => {
    const records = Buffer.alloc(size * PIXEL_RECORD_BYTES)
    for (let i = 0; i < size; i++) writePixelRecord(records, i * PIXEL_RECORD_BYTES, (i * 13) % W, (i * 7) % H, 0x123456)
    seq += size
    return Buffer.concat(Sender.frame(Buffer.from(encodeUpdates(seq, records)), { fin: true, rsv1: false, opcode: 0x02, mask: false, readOnly: false }))
  }
  process.on('message', (m: ServerCmd) => {
    if (m.type === 'exit') process.exit(0)
    const sockets = (groups.get(m.group) ?? []).slice(0, m.count)
    const frame = framed(m.size)
    if (m.burst) {
      // All of a round's frames at once, one write per socket: the client reads many frames per read.
      const all = Buffer.concat(Array.from({ length: m.ticks }, () => frame))
      for (const s of sockets) s.write(all)
      process.send!({ type: 'sent' })
      return
    }
    let left = m.ticks
    const tick = () => {
      for (const s of sockets) s.write(frame)
      if (--left > 0) setTimeout(tick, m.tickMs)
      else process.send!({ type: 'sent' })
    }
    tick()
  })
}

// ---------------------------------------------------------------- the clients (this process)

/** What the receivers counted (both paths add here, as worker.ts's `received`). */
let received = 0
let rejected = 0
const RECORD = PIXEL_RECORD_BYTES

// A: worker.ts's raw receive path as it was before the switch (commit 165eff3), a counted, unsampled receiver.
function onPixels (buf: Buffer, off: number, sampled: boolean): void {
  if (!sampled) { received += ((buf.length - off) / RECORD) | 0 }
}
function openRaw (url: string, libSocket = false): Promise<void> {
  const sampled = false
  const slow = false
  const counted = true
  const admin = false
  return new Promise((resolve, reject) => {
    let first = true
    let ready = false
    const done = (err?: Error) => {
      if (ready) return
      ready = true
      if (err !== undefined) reject(err)
      else resolve()
    }
    const onBinary = (b: Buffer) => {
      if (first) {
        first = false
        if (slow) (ws as unknown as { _socket: NetSocket })._socket.pause()
      }
      const op = b[0]
      if (op === Op.SNAPSHOT) { done(); return }
      if (slow || !counted) return
      if (op === Op.UPDATES) onPixels(b, UPDATES_HEADER_BYTES, sampled)
      else if (op === Op.PIXEL || op === Op.PIXELS) onPixels(b, 1, sampled)
    }
    const ws = libSocket
      ? new (socketClass({}))(`${url}&canvas=main`, ['pixelwire.v1'], { headers: { authorization: 'Bearer x' } }) as WebSocket
      : new WebSocket(url, { headers: { authorization: 'Bearer x' }, handshakeTimeout: 20_000, perMessageDeflate: false, skipUTF8Validation: true })
    ws.on('message', (d: Buffer, bin: boolean) => {
      if (bin) onBinary(d)
      else if (admin && d.includes('"error"')) rejected++
    })
    ws.on('error', (err) => done(err))
    ws.on('close', (code) => done(new Error(`closed ${code}`)))
  })
}

// B and C: the library as worker.ts opens a counted receiver.
const countFrame = (_frame: Uint8Array, _seq: number, count: number): void => { received += count }

/** C's socket: the same `ws` client, with `on` hidden from the library (so it sets `onmessage`). */
function hidingOnClass (Base: new (...a: any[]) => object): new (...a: any[]) => object {
  return function (...a: any[]) { return hidingOn(new Base(...a)) } as unknown as new (...a: any[]) => object
}

async function openLib (url: string, viaOnmessage: boolean): Promise<PixelwireClient> {
  const c = openLibClient({
    url,
    token: 'x',
    onUpdatesFrame: countFrame,
    wrapSocket: viaOnmessage ? hidingOnClass : undefined
  })
  await c.connect()
  return c
}

// ---------------------------------------------------------------- the run

const median = (a: number[]) => { const s = [...a].sort((x, y) => x - y); const m = s.length >> 1; return s.length % 2 === 1 ? s[m] : (s[m - 1] + s[m]) / 2 }

interface Mode { name: 'burst' | 'paced', clients: number, ticks: (size: number) => number, tickMs: number }

async function main (): Promise<void> {
  const clients = Number(arg('clients', '200'))
  const burstClients = Math.min(clients, Number(arg('burst-clients', '20')))
  const pacedTicks = Number(arg('ticks', '50'))
  const tickMs = Number(arg('tick-ms', '4'))
  const rounds = Number(arg('rounds', '41'))
  const warmup = Number(arg('warmup', '3'))
  const sizes = arg('sizes', '10,500,1000').split(',').map(Number)
  const variants = arg('variants', 'A,A2,B,C').split(',')
  const modes: Mode[] = arg('modes', 'burst,paced').split(',').map((m) => m === 'burst'
    // ~60,000 frames of 10 records, ~2,300 of 1,000 a round: 10-20 ms of the client's CPU
    ? { name: 'burst', clients: burstClients, ticks: (size) => Math.round(3000 * 30 / (size + 30)), tickMs: 0 }
    : { name: 'paced', clients, ticks: () => pacedTicks, tickMs })

  const server: ChildProcess = fork(fileURLToPath(import.meta.url), ['--serve'], { stdio: 'inherit' })
  const fromServer = (type: string) => new Promise<any>((resolve) => {
    const on = (m: { type: string }) => { if (m.type === type) { server.off('message', on); resolve(m) } }
    server.on('message', on)
  })
  const { port } = await fromServer('port')
  const url = (g: string) => `ws://127.0.0.1:${port}/ws?group=${g}`
  const all: Array<{ close: () => void }> = []
  for (const v of variants) {
    for (let i = 0; i < clients; i += 50) {
      await Promise.all(Array.from({ length: Math.min(50, clients - i) }, async () => {
        if (v.startsWith('A') || v === 'L') await openRaw(url(v), v === 'L')
        else all.push(await openLib(url(v), v === 'C'))
      }))
    }
  }

  const out: string[] = []
  const say = (s: string) => { out.push(s); console.log(s) }
  say(`# Client receive path: CPU per UPDATES frame (${new Date().toISOString().slice(0, 16)}Z)`)
  say('')
  say(`\`taskset -c 1 npx tsx bench/client-recv.ts ${process.argv.slice(2).join(' ')}\`; node ${process.version}, ${cpus()[0]?.model ?? '?'}.`)
  say('')
  say('A: raw `ws`, worker.ts\'s receive path before the switch; A2: a second, identical raw group (the harness\'s own noise); B: the library in low-level mode as worker.ts opens it (it listens to `ws`\'s `message` event); C: the same library client through `onmessage` (a MessageEvent per frame: the path commit 6cb5ea2 measured). CPU = user + system of the client process (getrusage: the total is exact, its split into user and system is sampled, so only the total is given; the server is a child process, not counted), per frame received, counting receivers.')
  for (const mode of modes) {
    say('')
    say(mode.name === 'burst'
      ? `## burst: each round, ${mode.clients} clients of one variant get a round's frames in one write each (many frames per read: the receive path's own cost)`
      : `## paced: each round, ${mode.clients} clients of one variant get ${pacedTicks} ticks of one frame each, ${mode.tickMs} ms apart (mostly one frame per read, as at saturation)`)
    say('')
    say(`Load average at the start: ${loadavg().map((l) => l.toFixed(2)).join(' ')}. ${warmup} warm-up rounds, then ${rounds} rounds per variant and size; each round runs the variants in turn, starting one further each time (${variants.join(' ')}, ${[...variants.slice(1), variants[0]].join(' ')}, …).`)
    say('')
    say('| records/frame | frames/round | variant | median ns | best ns | ÷A median | ÷A best | ÷A paired |')
    say('|---:|---:|---|---:|---:|---:|---:|---:|')
    for (const size of sizes) {
      const ticks = mode.ticks(size)
      const frames = mode.clients * ticks
      const per: Record<string, number[]> = Object.fromEntries(variants.map((v) => [v, []]))
      for (let r = 0; r < warmup + rounds; r++) {
        // Each round in another order (A B C, B C A, C A B, …): no variant always follows the same one.
        for (let k = 0; k < variants.length; k++) {
          const v = variants[(r + k) % variants.length]
          const target = received + frames * size
          const sent = fromServer('sent')
          const c0 = process.cpuUsage()
          server.send({ type: 'round', group: v, count: mode.clients, size, ticks, tickMs: mode.tickMs, burst: mode.name === 'burst' })
          await sent
          for (;;) {
            if (received >= target) break
            await new Promise((resolve) => setTimeout(resolve, 2))
          }
          const c = process.cpuUsage(c0)
          if (received !== target || rejected !== 0) throw new Error(`${v}: counted ${received - target} pixels too many`)
          if (r >= warmup) per[v].push((c.user + c.system) * 1000 / frames)
        }
      }
      const med = (v: string) => median(per[v])
      const best = (v: string) => Math.min(...per[v])
      for (const v of variants) {
        // paired: the median over rounds of this variant's round ÷ A's round in the same round (slow drifts of the machine cancel)
        const paired = median(per[v].map((x, i) => x / per.A[i]))
        const ratios = v === 'A' ? '| | |' : `| ${(med(v) / med('A')).toFixed(3)} | ${(best(v) / best('A')).toFixed(3)} | ${paired.toFixed(3)} |`
        say(`| ${size} | ${frames} | ${v} | ${med(v).toFixed(0)} | ${best(v).toFixed(0)} ${ratios}`)
      }
    }
    say('')
    say(`Load average at the end: ${loadavg().map((l) => l.toFixed(2)).join(' ')}.`)
  }
  const file = arg('out', '')
  if (file !== '') writeFileSync(file, out.join('\n') + '\n')
  for (const c of all) c.close()
  server.send({ type: 'exit' })
  process.exit(0)
}

if (process.argv.includes('--serve')) serve()
else main().catch((err) => { console.error(err); process.exit(1) })
