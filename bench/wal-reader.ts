// WAL size behind a long reader (issue 10, point 4): a painter draws random
// pixels while another process holds a read transaction, then the reader
// ends, painting goes on a while, then stops. Prints the WAL file size over
// time and a summary. The server runs from source (tsx); bounded by a hard
// deadline. Runs every server variable given as --kebab-case VALUE.
//
//   npx tsx bench/wal-reader.ts [--rate 20000] [--reader-s 15] [--after-s 5] [--idle-s 5] [--wal-checkpoint-bytes N ...]
import { spawn, type ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { createSigner } from 'fast-jwt'
import WebSocket from 'ws'
import { ConfigSchema } from '../src/config.js'

const load = { rate: 20000, 'reader-s': 15, 'after-s': 5, 'idle-s': 5 }
const overrides: Record<string, string> = {}
const argv = process.argv.slice(2)
for (let i = 0; i < argv.length; i += 2) {
  const key = argv[i].replace(/^--/, '')
  const env = key.toUpperCase().replaceAll('-', '_')
  if (key in load) load[key as keyof typeof load] = Number(argv[i + 1])
  else if (env in ConfigSchema.properties) overrides[env] = argv[i + 1]
  else throw new Error(`unknown argument ${argv[i]}`)
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))
const MB = (b: number) => (b / 1048576).toFixed(1)
const dataDir = mkdtempSync(join(tmpdir(), 'pixelwire-wal-'))
const dbFile = join(dataDir, 'pixelwire.db')
const secret = randomBytes(32).toString('hex')
const children: ChildProcess[] = []
const deadline = setTimeout(() => { console.error('deadline passed'); cleanup(); process.exit(1) }, (load['reader-s'] + load['after-s'] + load['idle-s'] + 60) * 1000)

function cleanup (): void {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL')
  rmSync(dataDir, { recursive: true, force: true })
}

function walBytes (): number {
  try { return statSync(dbFile + '-wal').size } catch { return 0 }
}

function start (args: string[], env: Record<string, string>): { child: ChildProcess, line: (re: RegExp) => Promise<RegExpExecArray> } {
  const base = Object.fromEntries(Object.entries(process.env).filter(([k]) => !(k in ConfigSchema.properties)))
  const child = spawn(process.execPath, ['--import', 'tsx', ...args], { env: { ...base, ...env }, stdio: ['ignore', 'pipe', 'inherit'] })
  children.push(child)
  const lines: string[] = []
  const waiters: Array<() => void> = []
  createInterface({ input: child.stdout! }).on('line', (l) => { lines.push(l); for (const w of waiters.splice(0)) w() })
  async function line (re: RegExp): Promise<RegExpExecArray> {
    for (;;) {
      for (const l of lines) { const m = re.exec(l); if (m !== null) return m }
      await new Promise<void>((resolve) => waiters.push(resolve))
    }
  }
  return { child, line }
}

async function main (): Promise<void> {
  const server = start(['src/server.ts'], {
    FASTIFY_AUTOLOAD_TYPESCRIPT: '1', PORT: '0', HOST: '127.0.0.1', LOG_LEVEL: 'info', DATA_DIR: dataDir, JWT_SECRET: secret, ...overrides
  })
  const port = Number((await server.line(/listening at http:\/\/127\.0\.0\.1:(\d+)/))[1])
  const sign = createSigner({ key: secret, algorithm: 'HS256', expiresIn: 3600_000 })
  const ws = new WebSocket(`ws://127.0.0.1:${port}/ws`, { headers: { authorization: `Bearer ${sign({ sub: 'wal-bench', role: 'admin' })}` } })
  await new Promise((resolve, reject) => { ws.once('open', resolve); ws.once('error', reject) })

  // Admins are exempt from the pixel budget: strokes of random pixels over the canvas, every 50 ms.
  const perTick = Math.round(load.rate / 20)
  let painting = true
  const paint = setInterval(() => {
    if (!painting) return
    for (let left = perTick; left > 0; left -= 1000) {
      const n = Math.min(1000, left)
      const m = Buffer.allocUnsafe(3 + 7 * n)
      m[0] = 1
      m.writeUInt16BE(n, 1)
      for (let i = 0; i < n; i++) {
        const o = 3 + 7 * i
        m.writeUInt16BE(Math.floor(Math.random() * 1024), o)
        m.writeUInt16BE(Math.floor(Math.random() * 1024), o + 2)
        m[o + 4] = Math.random() * 256; m[o + 5] = Math.random() * 256; m[o + 6] = Math.random() * 256
      }
      ws.send(m)
    }
  }, 50)

  const t0 = Date.now()
  const at = () => ((Date.now() - t0) / 1000).toFixed(1).padStart(5)
  const marks: Array<[string, number]> = []
  const mark = (what: string) => { const b = walBytes(); marks.push([what, b]); console.log(`${at()} s  ${MB(b).padStart(7)} MB  ${what}`) }
  let peak = 0
  const sampler = setInterval(() => { peak = Math.max(peak, walBytes()) }, 100)

  await sleep(3000)
  mark('before the reader (3 s of painting)')
  const reader = start(['test/hold-read.ts', dbFile], {})
  await reader.line(/^holding/)
  mark('reader holds a read transaction')
  for (let s = 0; s < load['reader-s']; s += 5) { await sleep(Math.min(5, load['reader-s'] - s) * 1000); mark('reader holding') }
  const peakWithReader = Math.max(peak, walBytes())
  reader.child.kill('SIGTERM')
  await new Promise((resolve) => reader.child.once('exit', resolve))
  mark('reader ended')
  await sleep(load['after-s'] * 1000)
  mark(`${load['after-s']} s more painting after the reader ended`)
  painting = false
  await sleep(load['idle-s'] * 1000)
  mark(`${load['idle-s']} s idle`)
  clearInterval(paint)
  clearInterval(sampler)
  ws.close()
  console.log(`\nrate ${load.rate} px/s, reader ${load['reader-s']} s, overrides ${JSON.stringify(overrides)}`)
  console.log(`| moment | WAL MB |\n|---|---|\n| peak while the reader held | ${MB(peakWithReader)} |`)
  for (const [what, b] of marks) console.log(`| ${what} | ${MB(b)} |`)
  server.child.kill('SIGTERM')
  await new Promise((resolve) => server.child.once('exit', resolve))
}

main().then(() => { clearTimeout(deadline); cleanup() }, (err) => { console.error(err); cleanup(); process.exit(1) })
