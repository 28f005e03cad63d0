// A canvas's state beyond its pixels, changed by admins (contract §10): frozen,
// palette, a reset (new epoch), deletion. The store port, and the messages
// clients get. Changes are stored first (CanvasStateStore: SQLite here, the
// cluster's store there), then published as a `canvas-state` event on the
// canvas's topic, so every node applies them (canvas-service.ts).
import type { CanvasId } from '../persistence/canvas-store.js'
import { toHexColor } from '../protocol/wire.js'
import type { Canvas } from './canvas.js'

/** Where canvas states are kept (src/persistence/canvas-store.ts implements it over SQLite). */
export interface CanvasStateStore {
  /** false: no such canvas */
  setFrozen (id: CanvasId, frozen: boolean): boolean
  /** false: no such canvas */
  setPalette (id: CanvasId, palette: number[] | null): boolean
  /**
   * A new epoch starting at the canvas's current seq, with `blank` (the
   * deflated white picture) stored as its snapshot; undefined: no such canvas.
   */
  reset (id: CanvasId, epoch: string, blank: Buffer): { seq: number } | undefined
  /**
   * Delete the canvas: gone at once for list/get and boot; what is stored of
   * it is purged afterwards by `purge` steps. false: no such canvas.
   */
  remove (id: CanvasId): boolean
  /** One bounded purge step of a deleted canvas (up to `limit` changes); true: all gone. */
  purge (id: CanvasId, limit: number): boolean
  /** Deleted canvases whose purge has not finished (resumed at boot). */
  deleting (): CanvasId[]
}

/** The palette as clients see it: "#rrggbb" strings in the order given, or null. */
export function paletteView (palette: ReadonlySet<number> | null): string[] | null {
  return palette === null ? null : [...palette].map(toHexColor)
}

/** What `hello.canvas` says of a canvas. */
export function canvasHello (c: Canvas): { id: string, width: number, height: number, seq: number, epoch: string, frozen: boolean, palette: string[] | null } {
  return { id: c.id, width: c.width, height: c.height, seq: c.seq, epoch: c.epoch, frozen: c.frozen, palette: paletteView(c.palette) }
}
