// Revert: undo a user's pixels on a canvas. Every pixel whose current
// colour was set by the user (after seq `since`, inside `region`) gets back
// the colour it had before that user's changes, or the blank colour when
// nobody drew there before.
//
// Two steps. (1) The scan finds the candidates: the log is read by its
// primary key (canvas, seq) from `since` in slices of `sliceRows` seqs,
// yielding to the event loop between slices, so commits, frames and other
// requests keep being served while a long log is read; the user's changes
// found are counted (more than `maxChanges`: 409, nothing read further) and
// those inside `region` kept as a set of pixels (so at most maxChanges of
// them). No table or index is written for it: commits pay nothing for a
// rare admin action. (2) The plan and the commit are ONE synchronous step,
// right after the slice that reached the end of the log (cluster mode: made
// again if the order moved before the append took it): each candidate's
// current newest change and the colour before the user's changes are read
// through the (canvas, y, x, seq) index, then committed at once as ordinary
// new changes (shown as UPDATES at the next beat like any commit).
import { setImmediate as nextTurn, setTimeout as sleep } from 'node:timers/promises'
import type { Canvas } from '../canvas/canvas.js'
import { rectOutOfBounds, requireCanvas } from '../canvas/admin.js'
import type { CanvasService } from '../canvas/canvas-service.js'
import { DomainError } from '../domain-error.js'
import type { CanvasStore, Region } from '../persistence/canvas-store.js'
import { PIXEL_RECORD_BYTES as RECORD, readRgb } from '../protocol/wire.js'

export interface RevertRequest { user: string, since?: number, region?: Region }
export interface RevertResult { reverted: number, seq: number }

/** The colour of a pixel nobody drew: what a new canvas is made of (canvas.ts blankPixels). */
const BLANK = readRgb(Buffer.alloc(3, 0xff), 0)

export interface RevertDeps {
  canvases: Pick<CanvasService, 'get' | 'commitNow'>
  store: Pick<CanvasStore, 'revertSlice' | 'revertPlan'>
  /** REVERT_MAX_CHANGES: most changes of the user after `since` (region or not) */
  maxChanges: number
  /** REVERT_SCAN_SLICE: seqs of the log read per slice, between two turns of the event loop */
  sliceRows: number
  /** REVERT_MAX_SCAN: most seqs of the log one revert may scan */
  maxScan: number
}

/** `by`: who the new changes are recorded as (`admin:<sub>`, like an admin fill). */
export async function revert (deps: RevertDeps, canvasId: string, req: RevertRequest, by: string): Promise<RevertResult> {
  const { canvases, store, maxChanges, sliceRows, maxScan } = deps
  let canvas: Canvas = requireCanvas(canvases, canvasId)
  const region = req.region ?? { x: 0, y: 0, w: canvas.width, h: canvas.height }
  const oob = rectOutOfBounds(canvas, region.x, region.y, region.w, region.h)
  if (oob !== null) throw new DomainError('invalid', 'OUT_OF_BOUNDS', `region: ${oob}`)
  const since = req.since ?? 0
  const { x: x0, y: y0 } = region
  const x1 = region.x + region.w
  const y1 = region.y + region.h
  /** the candidates inside region, as y * 65536 + x (coordinates are u16); at most maxChanges */
  const pixels = new Set<number>()
  let found = 0
  let scanned = 0
  let after = since
  for (;;) {
    const slice = store.revertSlice(canvas.id, req.user, after, Math.min(sliceRows, maxScan - scanned + 1))
    scanned += slice.to - slice.from
    found += slice.changes.length
    if (found > maxChanges) {
      throw new DomainError('conflict', 'TOO_MANY_CHANGES', `${req.user} has more than ${maxChanges} changes after seq ${since} (REVERT_MAX_CHANGES); narrow it with a later since`)
    }
    for (const [x, y] of slice.changes) {
      if (x >= x0 && x < x1 && y >= y0 && y < y1) pixels.add(y * 65536 + x)
    }
    // Reading at most maxScan + 1 seqs tells "more than maxScan" apart.
    if (scanned > maxScan) {
      throw new DomainError('conflict', 'TOO_MANY_CHANGES', `more than ${maxScan} changes after seq ${since} to scan (REVERT_MAX_SCAN); narrow it with a later since`)
    }
    after = slice.to
    if (after >= slice.end) break
    await nextTurn()
    // The canvas may have gone (404) while we waited.
    canvas = requireCanvas(canvases, canvasId)
  }
  // From here on, synchronous: no commit of this node can come between the
  // last slice (which read the log up to the canvas's seq) and the commit
  // below. Commits that came between earlier slices cannot make the answer
  // wrong: the candidates are every pixel the user changed in (since, end]
  // inside region (a superset of the pixels to revert, scanned by seq up to
  // the end of the log as it is now), and the plan reads each candidate's
  // history as it is now: a candidate painted over by someone else since is
  // left out, a colour changed under it is the one restored.
  if (pixels.size === 0) return { reverted: 0, seq: canvas.seq }
  // Cluster mode: other nodes' commits can reach the order between this
  // node's plan and its append; the append then refuses (MOVED, naming the
  // seq Redis is at), this node reads up to that seq and plans again at
  // once, so only an append landing within one round trip moves it again.
  for (let attempt = 1; ; attempt++) {
    const records = store.revertPlan(canvas.id, req.user, since, pixels, pixels.size, BLANK)
    if (records.length === 0) return { reverted: 0, seq: canvas.seq }
    let movedTo: number
    try {
      const range = await canvases.commitNow(canvas, records, by)
      return { reverted: records.length / RECORD, seq: range.to }
    } catch (err) {
      if (!(err instanceof DomainError) || err.code !== 'MOVED' || attempt >= MOVED_ATTEMPTS) throw movedAsBusy(err)
      movedTo = Number(/at seq (\d+)/.exec(err.message)?.[1] ?? 0)
    }
    const end = Date.now() + MOVED_WAIT_MS
    do {
      await sleep(MOVED_POLL_MS)
      canvas = requireCanvas(canvases, canvasId)
    } while (canvas.seq < movedTo && Date.now() < end)
  }
}

/** Plans made again when the cluster's order moved under them before a revert gives up (503, try again). */
const MOVED_ATTEMPTS = 8
/** How long a plan waits for this node to read up to the seq Redis named, at most, and how often it looks. */
const MOVED_WAIT_MS = 2000
const MOVED_POLL_MS = 5

function movedAsBusy (err: unknown): unknown {
  if (err instanceof DomainError && err.code === 'MOVED') return new DomainError('unavailable', 'UNAVAILABLE', `the canvas kept changing while the revert was planned (${err.message}); nothing was changed, try again`, 1000)
  return err
}
