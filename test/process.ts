// Helpers for tests that run src/server.ts or scripts/*.ts as real child
// processes (under tsx), or any command (npm), with bounded waits and
// SIGKILL in teardown.
import { spawn, type ChildProcess } from 'node:child_process'
import type { Test } from 'tap'
import { ConfigSchema } from '../src/config.js'

/**
 * How long a child may take to load its import graph under tsx. That, not
 * the server's own work, is what boot time is made of on a loaded machine
 * (~1.8 s of CPU per child here idle; 11-12 s for three at once at load 35).
 */
export const BOOT_MS = 20000

/**
 * The parent's environment without any variable the server reads, so the
 * host cannot leak into a test. Children record no coverage: they run under
 * tsx, and their coverage of the same files, transpiled differently, would be
 * merged offset-wise with the tests' own and garble the report. (tap's
 * processinfo re-adds its hooks to every spawn; this is its off switch.)
 */
function baseEnv (): Record<string, string> {
  const env: Record<string, string> = {}
  const ours = new Set(Object.keys(ConfigSchema.properties))
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined && !ours.has(k)) env[k] = v
  env._TAPJS_PROCESSINFO_COVERAGE_ = '0'
  return env
}

export interface Proc {
  child: ChildProcess
  /** everything written so far */
  out: () => string
  err: () => string
  /** resolves once, when the process has exited */
  exited: Promise<{ code: number | null, signal: NodeJS.Signals | null }>
}

export interface SpawnOptions {
  cwd?: string
  /**
   * Only what a deployed server would see: no NODE_OPTIONS (tap's hooks,
   * resolved from this checkout) and no npm_* variables from an outer npm.
   */
  bare?: boolean
  /**
   * Its own process group, SIGKILLed as a whole in teardown: for a command
   * (npm) whose child must not outlive a failed test.
   */
  group?: boolean
}

/** Spawn any command; killed with SIGKILL in teardown if still running. */
export function spawnProcess (t: Test, command: string, args: string[], env: Record<string, string>, opts: SpawnOptions = {}): Proc {
  const merged: Record<string, string> = { ...baseEnv(), ...env }
  if (opts.bare === true) {
    for (const k of Object.keys(merged)) if (k === 'NODE_OPTIONS' || /^npm_/i.test(k)) delete merged[k]
  }
  const child = spawn(command, args, { env: merged, cwd: opts.cwd, detached: opts.group === true, stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  let err = ''
  child.stdout!.on('data', (d: Buffer) => { out += d.toString() })
  child.stderr!.on('data', (d: Buffer) => { err += d.toString() })
  const exited = new Promise<{ code: number | null, signal: NodeJS.Signals | null }>((resolve) => {
    child.once('close', (code, signal) => resolve({ code, signal }))
  })
  t.teardown(() => {
    if (opts.group === true && child.pid !== undefined) {
      try { process.kill(-child.pid, 'SIGKILL') } catch {} // the group is gone already
    } else if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
  })
  return { child, out: () => out, err: () => err, exited }
}

/** Spawn a node script under tsx; killed with SIGKILL in teardown if still running. */
export function run (t: Test, args: string[], env: Record<string, string>): Proc {
  return spawnProcess(t, process.execPath, ['--import', 'tsx', ...args], env)
}

/** Race a promise against a timer; rejects with `what` when the timer wins. */
export async function within<T> (p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms)
  })
  try {
    return await Promise.race([p, timeout])
  } finally {
    clearTimeout(timer)
  }
}

export interface Server extends Proc { port: number, ws: string }

/** src/server.ts as a child process, resolved once it logs its listening address. */
export async function startServer (t: Test, env: Record<string, string>): Promise<Server> {
  const proc = run(t, ['src/server.ts'], {
    FASTIFY_AUTOLOAD_TYPESCRIPT: '1', PORT: '0', HOST: '127.0.0.1', LOG_LEVEL: 'info', ...env
  })
  const port = await listening(proc)
  return { ...proc, port, ws: `ws://127.0.0.1:${port}/ws` }
}

/** The port a server process (on 127.0.0.1) logs it listens on; rejects if it exits first. */
export function listening (proc: Proc, ms = BOOT_MS): Promise<number> {
  return within(new Promise<number>((resolve, reject) => {
    const check = () => {
      const m = /listening at http:\/\/127\.0\.0\.1:(\d+)/.exec(proc.out())
      if (m !== null) {
        proc.child.stdout!.off('data', check)
        resolve(Number(m[1]))
      }
    }
    proc.child.stdout!.on('data', check)
    check()
    proc.exited.then(({ code }) => reject(new Error(`server exited (${code}) before listening: ${proc.err()}`)))
  }), ms, 'server listening')
}

/** The pino JSON lines a server wrote on stdout. */
export function logLines (out: string): Array<Record<string, any>> {
  return out.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l))
}

/** Signal a server and wait (bounded) for it to exit. */
export async function stop (s: Proc, signal: NodeJS.Signals = 'SIGTERM', ms = 10000) {
  s.child.kill(signal)
  return within(s.exited, ms, `exit after ${signal}`)
}
