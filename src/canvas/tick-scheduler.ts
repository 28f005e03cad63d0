// The adaptive tick, as a pure state machine: no clock, no timer, no I/O.
// The canvas service beats it every TICK_MS and tells it, after each beat,
// how many frames the beat wrote and the CPU time it spent sending; it says
// which slot of clients the next beat sends.
//
// The clock beats at TICK_MS and every beat commits. A stretched tick of
// period G beats splits the clients into G slots (by connection id) and
// each beat sends one slot: every client still gets one frame per period,
// but a beat writes a G-th of the frames, so the write burst, and the wait
// of the clients written last, is a G-th of what one flush to everyone
// would take (bench/results: saturation p99). After each rotation (G beats)
// the period is set again from the frames and the sending time of that
// rotation.

/**
 * A tick's period is also at least this many times the CPU time its beats
 * spent sending (the flush without the commit): sending never takes more
 * than the whole process. Measured, not guessed (bench/results/2026-12-02-tick.md): a
 * factor of 2 doubled the 50 ms tick at 2,000 clients (~30 ms sending;
 * periods are whole beats) and the fan-out p99 with it (117-121 ms against
 * 83-85 ms), and at saturation fewer, larger bursts arrived later (p99
 * 6.9-26.5 s and 10.7 s against 1.04 s). Its one gain, 10,000 clients
 * connecting in ~20 s instead of ~90 s (fewer presence frames), is not
 * worth that.
 */
export const TICK_SEND_FACTOR = 1

/** Rotations in a row that must want fewer slots before a stretched tick shrinks (see endBeat). */
export const SHRINK_AFTER = 3

/**
 * The next tick's period: the configured tick, stretched (up to max) so that
 * the frames the last period wrote fit the frame budget (frames per second),
 * and so that sending took at most 1/TICK_SEND_FACTOR of its CPU time. The commit
 * does not stretch it: a tick slowed by a big commit must not get longer,
 * or fewer pixels per second would commit.
 */
export function nextTickMs (tickMs: number, tickMaxMs: number, frames: number, frameBudget: number, sendMs = 0): number {
  const budgetMs = frameBudget > 0 ? 1000 * frames / frameBudget : 0
  return Math.min(Math.max(tickMs, tickMaxMs), Math.max(tickMs, budgetMs, TICK_SEND_FACTOR * sendMs))
}

export interface TickConfig {
  /** the beat (TICK_MS) */
  tickMs: number
  /** the longest period (TICK_MAX_MS); at or below tickMs: a fixed tick */
  tickMaxMs?: number
  /** frames per second all clients together may cost (TICK_FRAME_BUDGET); 0 or unset: none */
  frameBudget?: number
}

export class TickScheduler {
  readonly tickMs: number
  readonly tickMaxMs: number
  readonly frameBudget: number
  /** the most slots a period can have: TICK_MAX_MS in whole beats */
  readonly maxSlots: number
  /** the period in beats: clients are sent in this many slots, one per beat */
  slots = 1
  /** rotations that ended stretched (more than one slot) */
  stretched = 0
  /** beats into the current rotation: the slot the next beat sends */
  private beat = 0
  private frames = 0
  private sendMs = 0
  private shrinkRotations = 0
  private shrinkMost = 1

  constructor (config: TickConfig) {
    this.tickMs = config.tickMs
    this.tickMaxMs = Math.max(config.tickMs, config.tickMaxMs ?? config.tickMs)
    this.frameBudget = config.frameBudget ?? 0
    this.maxSlots = Math.max(1, Math.floor(this.tickMaxMs / config.tickMs))
  }

  get periodMs (): number { return this.slots * this.tickMs }
  /** which slot of clients (connection id mod slots) the next beat sends */
  get slot (): number { return this.beat % this.slots }

  /** One beat done: it wrote `frames` frames and spent `sendMs` of CPU sending. */
  endBeat (frames: number, sendMs: number): void {
    this.frames += frames
    this.sendMs += sendMs
    if (++this.beat < this.slots) return
    const periodMs = nextTickMs(this.tickMs, this.tickMaxMs, this.frames, this.frameBudget, this.sendMs)
    const wanted = Math.min(this.maxSlots, Math.max(1, Math.ceil(periodMs / this.tickMs - 0.5)))
    // Every change of slots reshuffles who is sent when (and makes some wait
    // up to two periods): more slots at once, fewer only once SHRINK_AFTER
    // rotations in a row wanted fewer, and then the most of them wanted.
    if (wanted > this.slots) {
      this.slots = wanted
      this.shrinkRotations = 0
    } else if (wanted < this.slots) {
      this.shrinkMost = this.shrinkRotations === 0 ? wanted : Math.max(this.shrinkMost, wanted)
      if (++this.shrinkRotations >= SHRINK_AFTER) {
        this.slots = this.shrinkMost
        this.shrinkRotations = 0
      }
    } else {
      this.shrinkRotations = 0
    }
    if (this.slots > 1) this.stretched++
    this.beat = this.frames = this.sendMs = 0
  }

  /** Back to one slot: the next beat sends every client (the last flush at stop). */
  reset (): void {
    this.slots = 1
    this.beat = 0
  }
}
