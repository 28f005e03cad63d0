// What the domain counts for metrics, without knowing the exporter.
//
// Hot paths (every message in or out, every handshake, every close) bump
// plain numbers in `meter.counts`: no label objects, no hashing, no
// allocation. The exporter (plugins/metrics.ts) reads them at scrape time.
// Histograms need every observation, so `observe` is called, but only once
// per tick, per commit or per draw op, never per send.
import { CloseCode } from './protocol/errors.js'
import { Op } from './protocol/wire.js'

/** Inbound messages by kind: the binary op, or `json` for text. */
export const IN_KINDS = ['pixel', 'stroke', 'rect', 'cursor', 'json', 'other'] as const
/** Outbound messages by kind: the binary frame type, or `json` for text. */
export const OUT_KINDS = ['snapshot', 'updates', 'cursors', 'json', 'other'] as const

const IN_JSON = 4
const IN_OTHER = 5
const OUT_JSON = 3
const OUT_OTHER = 4

/** Index into IN_KINDS: 0x00..0x03 are PIXEL, PIXELS, RECT, CURSOR. */
export function inKind (data: Uint8Array, isBinary: boolean): number {
  if (!isBinary) return IN_JSON
  const op = data[0]
  return op !== undefined && op <= Op.CURSOR ? op : IN_OTHER
}

/** Index into OUT_KINDS: 0x10..0x12 are SNAPSHOT, UPDATES, CURSORS. */
export function outKind (data: Uint8Array | string): number {
  if (typeof data === 'string') return OUT_JSON
  const type = data[0] - Op.SNAPSHOT
  return type >= 0 && type <= Op.CURSORS - Op.SNAPSHOT ? type : OUT_OTHER
}

// Close codes by value, with a bounded label set. Documented codes (contract
// §6, 1008 from docs/protocol.md) and 1005 (no code) / 1006 (dropped without
// a close frame) always have their own label. Any other code a peer may send
// (1000-1014, 3000-4999: ~2,000 values, enough to flood a label) is kept
// as sent too, but only the first `maxOther` distinct ones get a label of
// their own; later new ones are counted as `other`. `seen` is the count map
// itself, so a code once labelled keeps its label.
const CLOSE_LABELS = new Map<number, string>(
  [...Object.values(CloseCode), 1005, 1006, 1008].map((c) => [c, String(c)])
)

/** A close code that can travel in a close frame (RFC 6455 §7.4; what ws accepts from a peer). */
export const isWireCloseCode = (code: number): boolean =>
  Number.isInteger(code) && ((code >= 1000 && code <= 1014 && code !== 1004 && code !== 1005 && code !== 1006) || (code >= 3000 && code <= 4999))

/** The `code` label of a close: its number when documented, or when one of the first `maxOther` other codes seen; else `other`. */
export function closeLabel (code: number, seen: ReadonlyMap<string, number> = new Map(), maxOther = 0): string {
  const known = CLOSE_LABELS.get(code)
  if (known !== undefined) return known
  if (!isWireCloseCode(code)) return 'other'
  const label = String(code)
  if (seen.has(label)) return label
  let others = 0
  for (const l of seen.keys()) if (l !== 'other' && !DOCUMENTED.has(l)) others++
  return others < maxOther ? label : 'other'
}

/** Every documented close code label, and `other` (for exporters that pre-create series). */
export const CLOSE_LABEL_VALUES: readonly string[] = [...new Set([...CLOSE_LABELS.values(), 'other'])]
const DOCUMENTED = new Set(CLOSE_LABEL_VALUES)

export type Resume = 'replay' | 'snapshot'

export interface MeterCounts {
  connectionsAccepted: number
  /** handshakes refused, by the HTTP error code of the answer */
  connectionsRejected: Map<string, number>
  /** connections ended, by closeLabel() (bounded: documented codes, a capped number of others, `other`) */
  closes: Map<string, number>
  /** indexed like IN_KINDS / OUT_KINDS */
  messagesIn: number[]
  bytesIn: number[]
  messagesOut: number[]
  bytesOut: number[]
  pixelsApplied: number
  /** pixels of refused draw ops, by error code */
  pixelsRejected: Map<string, number>
  /** connections the server closed with 4008 */
  slowConsumerCloses: number
  /** inbound messages whose handling threw (answered INTERNAL) */
  handlerErrors: number
  resumes: Record<Resume, number>
}

export type HistogramName = 'tick' | 'commit' | 'pixelDelay' | 'append'

export interface Meter {
  readonly counts: MeterCounts
  /** One observation, in seconds: a tick's duration, a commit's, a draw op's delay until its frame was written. */
  observe (histogram: HistogramName, seconds: number): void
}

/** Add n to a labelled count (no allocation once the label exists). */
export function bump (m: Map<string, number>, label: string, n = 1): void {
  m.set(label, (m.get(label) ?? 0) + n)
}

export function createCounts (): MeterCounts {
  return {
    connectionsAccepted: 0,
    connectionsRejected: new Map(),
    closes: new Map(),
    messagesIn: IN_KINDS.map(() => 0),
    bytesIn: IN_KINDS.map(() => 0),
    messagesOut: OUT_KINDS.map(() => 0),
    bytesOut: OUT_KINDS.map(() => 0),
    pixelsApplied: 0,
    pixelsRejected: new Map(),
    slowConsumerCloses: 0,
    handlerErrors: 0,
    resumes: { replay: 0, snapshot: 0 }
  }
}

function ignore (): void {}

export function createMeter (observe: Meter['observe'] = ignore): Meter {
  return { counts: createCounts(), observe }
}

/**
 * A histogram kept as plain numbers and read at scrape time, like the
 * counts above: `observe` is a few comparisons and three additions, with no
 * allocation. prom-client's own `observe` allocates and hashes an empty
 * label set on every call (~170 ns, bench/cost.ts `observe`), and the pixel
 * delay is observed once per accepted draw op. Buckets are upper bounds
 * (`le`), ascending; `counts` has one more slot, for +Inf. Not cumulative:
 * the exporter sums them.
 */
export class LocalHistogram {
  readonly bounds: readonly number[]
  readonly counts: number[]
  sum = 0
  count = 0

  constructor (bounds: readonly number[]) {
    for (let i = 1; i < bounds.length; i++) {
      if (!(bounds[i] > bounds[i - 1])) throw new Error('histogram bounds must be ascending')
    }
    this.bounds = bounds
    this.counts = new Array<number>(bounds.length + 1).fill(0)
  }

  observe (value: number): void {
    const b = this.bounds
    let i = 0
    while (i < b.length && value > b[i]) i++
    this.counts[i]++
    this.sum += value
    this.count++
  }
}

/** The default of every factory: counts that nobody reads, observations dropped. */
export const noopMeter: Meter = createMeter()

/**
 * Arrival times of queued draw ops, oldest first, so each op can be timed
 * until the frame that carries its last pixel is written. Two parallel
 * arrays and a head index: no allocation per op once warmed up.
 */
export class ArrivalQueue {
  private at: number[] = []
  private pixels: number[] = []
  private head = 0

  push (at: number, pixels: number): void {
    this.at.push(at)
    this.pixels.push(pixels)
  }

  /** Take `pixels` pixels off the front; `done(at)` for each op fully taken. */
  take (pixels: number, done?: (at: number) => void): void {
    while (pixels > 0 && this.head < this.at.length) {
      const left = this.pixels[this.head]
      if (left > pixels) {
        this.pixels[this.head] = left - pixels
        return
      }
      pixels -= left
      done?.(this.at[this.head])
      this.head++
    }
    if (this.head === this.at.length) {
      this.at.length = this.pixels.length = this.head = 0
    } else if (this.head > 1024 && this.head * 2 > this.at.length) {
      this.at.splice(0, this.head)
      this.pixels.splice(0, this.head)
      this.head = 0
    }
  }

  get size (): number { return this.at.length - this.head }
}
