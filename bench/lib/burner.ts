// A competing CPU load beside the server under test (`--cpu-burner`): one
// process spinning a busy loop, pinned with the server to one core, so the
// server shares its core the way it would with a noisy neighbour. What the
// bench then compares is how each server's tail latency holds up.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process'
import { setPriority } from 'node:os'
import { sampleProc, sleep } from './server.js'

/** Pin every thread of pid (threads created later inherit it) to one core. */
export function pin (pid: number, core: number): void {
  execFileSync('taskset', ['-a', '-p', '-c', String(core), String(pid)], { stdio: 'ignore' })
}

export interface BurnerOptions {
  /** the core the burner and the server share; null: neither is pinned */
  core: number | null
  /** the burner's nice value (the server runs at 0) */
  nice: number
}

export interface Burner {
  child: ChildProcess
  /** The burner's CPU time so far (s). */
  cpu: () => number
  stop: () => Promise<void>
}

/**
 * Start the burner, pin it and the server to opts.core, and give it ~300 ms
 * to be spinning before the caller's measurement window opens. `track` gets
 * the child at once, so the bench's hard deadline can kill it.
 */
export async function startBurner (serverPid: number, opts: BurnerOptions, track: (c: ChildProcess) => void): Promise<Burner> {
  const child = spawn(process.execPath, ['-e', 'for (;;) {}'], { stdio: 'ignore' })
  track(child)
  const pid = child.pid ?? 0
  if (opts.nice !== 0) setPriority(pid, opts.nice)
  if (opts.core !== null) {
    pin(pid, opts.core)
    pin(serverPid, opts.core)
  }
  await sleep(300)
  return {
    child,
    cpu: () => sampleProc(pid)?.cpu ?? 0,
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return
      const gone = new Promise((resolve) => child.once('exit', resolve))
      child.kill('SIGKILL')
      await gone
    }
  }
}

/** Fails fast (before any server starts) when pinning was asked for and cannot work. */
export function checkPinning (core: number | null, cores: number): void {
  if (core === null) return
  if (!Number.isInteger(core) || core < 0 || core >= cores) throw new Error(`--cpu-burner-core ${core}: this machine has cores 0-${cores - 1}`)
  try {
    execFileSync('taskset', ['-p', String(process.pid)], { stdio: 'ignore' })
  } catch {
    throw new Error('--cpu-burner pins with taskset (util-linux), which is not available: install it or pass --cpu-burner-core none')
  }
}
