// The pixel delay of one canvas: each accepted draw op, from its arrival
// until the frames with its last pixel were written to every slot of
// clients (pixelwire_pixel_delay_seconds). No allocation per op once warm.
import { ArrivalQueue, type Meter } from '../metrics.js'

export class PixelDelay {
  /** when each queued draw op arrived */
  private readonly arrivals = new ArrivalQueue()
  /** committed batches not yet sent to every slot: the beat that sends the last slot, and their pixels */
  private readonly undelivered: Array<{ beat: number, pixels: number }> = []
  private readonly meter: Meter
  /** when the current beat's frames were written (observe reads it) */
  private written = 0

  constructor (meter: Meter) { this.meter = meter }

  arrived (pixels: number, at = performance.now()): void { this.arrivals.push(at, pixels) }

  /** A batch that failed to commit: its ops are never shown, so never timed. */
  dropped (pixels: number): void { this.arrivals.take(pixels) }

  /** A batch committed; every slot has it after beat `lastBeat`. */
  committed (pixels: number, lastBeat: number): void { this.undelivered.push({ beat: lastBeat, pixels }) }

  /** After a beat's frames were written: the batches whose last slot was sent (all of them once slots is 1). */
  delivered (beats: number, slots: number): void {
    const u = this.undelivered
    if (u.length === 0) return
    this.written = performance.now()
    const n = slots === 1 ? u.length : u.findIndex((d) => d.beat > beats)
    for (const done of u.splice(0, n < 0 ? u.length : n)) this.arrivals.take(done.pixels, this.observe)
  }

  private readonly observe = (arrivedAt: number): void => {
    this.meter.observe('pixelDelay', (this.written - arrivedAt) / 1000)
  }
}
