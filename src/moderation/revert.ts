// Revert: undo a user's pixels on a canvas. Every pixel whose current
// colour was set by the user (after seq `since`, inside `region`) gets back
// the colour it had before that user's changes, or the blank colour when
// nobody drew there before. The colours are computed from the log
// (canvas-store `revertPlan`, bounded by REVERT_MAX_CHANGES: the user's
// changes after `since`, counted before any is read) and committed
// at once as ordinary new changes, in the same synchronous turn as the
// read, so no commit of this node comes between them; clients are shown
// them as UPDATES at the next beat like any commit.
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
  store: Pick<CanvasStore, 'revertPlan'>
  maxChanges: number
}

/** `by`: who the new changes are recorded as (`admin:<sub>`, like an admin fill). */
export function revert ({ canvases, store, maxChanges }: RevertDeps, canvasId: string, req: RevertRequest, by: string): RevertResult {
  const canvas: Canvas = requireCanvas(canvases, canvasId)
  const region = req.region ?? { x: 0, y: 0, w: canvas.width, h: canvas.height }
  const oob = rectOutOfBounds(canvas, region.x, region.y, region.w, region.h)
  if (oob !== null) throw new DomainError('invalid', 'OUT_OF_BOUNDS', `region: ${oob}`)
  const plan = store.revertPlan(canvas.id, req.user, req.since ?? 0, region, maxChanges, BLANK)
  if (!plan.ok) {
    throw new DomainError('conflict', 'TOO_MANY_CHANGES', `${req.user} has more than ${maxChanges} changes after seq ${req.since ?? 0} (REVERT_MAX_CHANGES); narrow it with a later since`)
  }
  if (plan.records.length === 0) return { reverted: 0, seq: canvas.seq }
  const range = canvases.commitNow(canvas, plan.records, by)
  return { reverted: plan.records.length / RECORD, seq: range.to }
}
