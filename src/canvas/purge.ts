// Purging deleted canvases in the background. A canvas's change log can
// hold millions of rows, and one DELETE of them held the event loop for
// seconds (measured: 1.1 s for 100,000 changes, 22 s for a million, on a
// loaded 2-core machine), stalling every tick. So the canvas disappears at
// once (CanvasStateStore.remove) and its rows go in bounded steps, one short
// IMMEDIATE transaction each, with a pause between them for the ticks.
import type { CanvasId } from '../persistence/canvas-store.js'
import type { CanvasStateStore } from './canvas-state.js'
import type { Logger } from './client-sync.js'

export interface PurgeOptions {
  store: Pick<CanvasStateStore, 'purge'>
  logger: Logger
  /** changes deleted per step (default 1000: some ms each) */
  chunk?: number
  /** pause between two steps (default 10 ms) */
  pauseMs?: number
}

export function createPurger (opts: PurgeOptions) {
  const chunk = opts.chunk ?? 1000
  const pauseMs = opts.pauseMs ?? 10
  /** one timer per canvas being purged */
  const timers = new Map<CanvasId, NodeJS.Timeout>()

  function step (id: CanvasId): void {
    timers.delete(id)
    let done: boolean
    try {
      done = opts.store.purge(id, chunk)
    } catch (err) {
      // Storage trouble: try again later; the row keeps it hidden meanwhile.
      opts.logger.warn({ err, canvas: id }, 'purging a deleted canvas failed; retrying')
      done = false
    }
    if (done) opts.logger.info({ canvas: id }, 'deleted canvas purged')
    else schedule(id, pauseMs)
  }

  function schedule (id: CanvasId, ms: number): void {
    if (timers.has(id)) return
    const timer = setTimeout(step, ms, id)
    timer.unref()
    timers.set(id, timer)
  }

  return {
    /** Purge a deleted canvas, step by step, from now on (idempotent). */
    start: (id: CanvasId): void => { schedule(id, 0) },
    /** Stop purging (shutdown); what is left is resumed at the next boot. */
    stop (): void {
      for (const t of timers.values()) clearTimeout(t)
      timers.clear()
    },
    /** canvases being purged (tests) */
    get pending (): number { return timers.size }
  }
}
