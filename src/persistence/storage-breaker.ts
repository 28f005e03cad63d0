// A circuit breaker in front of SQLite writes. better-sqlite3 is synchronous:
// a write against a locked database waits DB_BUSY_TIMEOUT_MS on the event
// loop, and trying it every tick stalled every tick. So after one failed
// write the breaker opens: writers (the canvas commit, the stream history
// flush) do not try, draws are refused at intake (UNAVAILABLE), and a cheap
// probe (a write lock taken and released with no busy wait) runs on its own
// timer with exponential backoff. The first probe that gets the lock closes
// it: writes resume with no restart. Invariant: while open, no writer waits
// on the database.
export interface StorageBreakerOptions {
  /** Throws when the database cannot be written now; must not wait (busy timeout 0). */
  probe: () => void
  /** first probe this long after a failure, then doubling... */
  minBackoffMs: number
  /** ...up to this */
  maxBackoffMs: number
  /** told when it opens (with the error) and when it closes (null) */
  onChange?: (error: string | null) => void
  now?: () => number
}

export interface StorageBreaker {
  /** false while a write failed and no probe succeeded since */
  readonly available: boolean
  /** the failure's message while open, else null */
  readonly error: string | null
  /** ms until the next probe (0 while available) */
  readonly retryAfterMs: number
  /** A write failed: open (or stay open) and probe later. */
  failed (err: unknown): void
  /** A write succeeded: the backoff starts over at the next failure. */
  succeeded (): void
  /** Stop probing (shutdown). */
  close (): void
}

export function createStorageBreaker (opts: StorageBreakerOptions): StorageBreaker {
  const now = opts.now ?? Date.now
  let error: string | null = null
  // Kept across a successful probe until a real write succeeds: a probe can
  // pass while writes still fail (disk full), and the retries must slow down.
  let backoff = 0
  let nextProbeAt = 0
  let timer: NodeJS.Timeout | null = null

  function schedule (): void {
    backoff = backoff === 0 ? opts.minBackoffMs : Math.min(opts.maxBackoffMs, backoff * 2)
    nextProbeAt = now() + backoff
    if (timer !== null) clearTimeout(timer)
    timer = setTimeout(probe, backoff)
    timer.unref()
  }

  function probe (): void {
    timer = null
    try {
      opts.probe()
    } catch (err) {
      error = (err as Error).message
      schedule()
      return
    }
    error = null
    opts.onChange?.(null)
  }

  return {
    get available () { return error === null },
    get error () { return error },
    get retryAfterMs () { return error === null ? 0 : Math.max(0, nextProbeAt - now()) },
    failed (err) {
      const first = error === null
      error = (err as Error).message ?? String(err)
      if (first) opts.onChange?.(error)
      if (timer === null) schedule()
    },
    succeeded () {
      if (error === null) backoff = 0
    },
    close () {
      if (timer !== null) clearTimeout(timer)
      timer = null
    }
  }
}
