// The production path on a fresh copy: build once with the dev tools, ship
// what a deploy ships (dist, public, migrations, package.json,
// package-lock.json), install the runtime dependencies only
// (`npm ci --omit=dev`), then `npm start`: /health answers, the shipped
// token CLI signs a token the server accepts, and SIGTERM to the npm process
// drains the server (clients get 1001), exit 0, no process left behind.
//
// The install runs with --ignore-scripts and takes the compiled
// better-sqlite3 addon from this checkout: compiling it from source is a
// minute of CPU. .ci/production does the same path with the real native
// install, in CI.
import { execFileSync } from 'node:child_process'
import { copyFileSync, cpSync, existsSync, mkdirSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { ROOT } from '../src/paths.js'
import { tempDir, TestClient, isHello, SECRET } from './helper.js'
import { spawnProcess, listening, logLines, within } from './process.js'

const ADDON = 'node_modules/better-sqlite3/build/Release/better_sqlite3.node'

/** Run to completion (bounded), throwing with its output if it fails. */
async function sh (t: Parameters<typeof spawnProcess>[0], command: string, args: string[], cwd: string, env: Record<string, string> = {}, ms = 90000) {
  const p = spawnProcess(t, command, args, env, { cwd, bare: true, group: true })
  const exit = await within(p.exited, ms, `${command} ${args.join(' ')}`)
  if (exit.code !== 0) throw new Error(`${command} ${args.join(' ')}: exit ${exit.code}\n${p.err()}\n${p.out()}`)
  return p.out()
}

function alive (pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'
  }
}

t.test('build once, npm ci --omit=dev, npm start, token CLI, SIGTERM', async (t) => {
  const deploy = tempDir(t, 'pixelwire-deploy-')
  // `npm run build`'s server half, into the deploy copy instead of ./dist;
  // --noCheck emits the same files without type-checking them again
  // (npm test's typecheck does that).
  await sh(t, process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.build.json', '--noCheck', '--outDir', join(deploy, 'dist')], ROOT)
  for (const part of ['public', 'migrations', 'package.json', 'package-lock.json']) cpSync(join(ROOT, part), join(deploy, part), { recursive: true })
  t.notOk(existsSync(join(deploy, 'src')), 'no sources shipped')

  await sh(t, 'npm', ['ci', '--omit=dev', '--ignore-scripts', '--prefer-offline', '--no-audit', '--no-fund'], deploy)
  mkdirSync(join(deploy, 'node_modules/better-sqlite3/build/Release'), { recursive: true })
  copyFileSync(join(ROOT, ADDON), join(deploy, ADDON))
  for (const dev of ['typescript', 'tsx', 'tap', 'esbuild']) t.notOk(existsSync(join(deploy, 'node_modules', dev)), `${dev} is not installed`)

  const dataDir = tempDir(t)
  const env = { PORT: '0', HOST: '127.0.0.1', DATA_DIR: dataDir, JWT_SECRET: SECRET, SHUTDOWN_TIMEOUT_MS: '5000' }
  const npm = spawnProcess(t, 'npm', ['start'], env, { cwd: deploy, bare: true, group: true })
  const port = await listening(npm, 30000)
  const serverPid = logLines(npm.out()).find((l) => /listening/.test(l.msg))?.pid as number
  t.not(serverPid, npm.child.pid, 'the server is a process of its own')
  const parent = Number(execFileSync('ps', ['-o', 'ppid=', '-p', String(serverPid)]).toString().trim())
  t.equal(parent, npm.child.pid, 'whose parent is npm itself: no shell in between (start execs node)')

  const health = await fetch(`http://127.0.0.1:${port}/health`)
  t.equal(health.status, 200, '/health 200')
  t.same(await health.json(), { status: 'ok' })

  const jwt = (await sh(t, 'npm', ['run', '-s', 'token', '--', '--sub', 'ops', '--role', 'admin'], deploy, { DATA_DIR: dataDir, JWT_SECRET: SECRET })).trim()
  t.match(jwt, /^[\w-]+\.[\w-]+\.[\w-]+$/, 'npm run token prints one JWT without dev dependencies')
  const client = new TestClient(`ws://127.0.0.1:${port}/ws`, { token: jwt })
  t.teardown(() => client.ws.terminate())
  await client.opened
  t.same((await client.next(isHello)).json.user, { id: 'ops', name: 'ops', role: 'admin' }, 'the server accepts it')

  npm.child.kill('SIGTERM')
  t.equal((await within(client.closed, 10000, 'client close')).code, 1001, 'SIGTERM to npm: the client gets 1001')
  t.same(await within(npm.exited, 10000, 'npm exit'), { code: 0, signal: null }, 'npm exits 0')
  t.notOk(alive(serverPid), 'and the server process is gone (no orphan)')
  t.ok(logLines(npm.out()).some((l) => l.msg === 'shutting down' && l.signal === 'SIGTERM'), 'the server logged the signal')
})
