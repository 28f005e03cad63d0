// Halvings of the picture for drawing it below 1:1. Drawing a big image
// scaled down without smoothing samples one source pixel per screen pixel and
// skips the rest: thin lines vanish and diagonals look dotted. Level k here is
// the canvas at 1/2^k, each pixel the average of the 2x2 pixels under it (a
// box filter, so every source pixel counts in every level). The board draws
// the level at or just below the screen's resolution and lets the browser
// interpolate it up: a 1-pixel line at 1/3 scale shows as a line at about a
// third of its contrast, never as nothing.
//
// Invariants: level k-1 is brought up to date before level k is computed
// from it; a level's `dirty` is the part of it (in level-0 pixels) that is
// stale. Memory: the levels together hold a third of the picture's pixels.

export interface Picture { width: number, height: number, u32: Uint32Array, canvas: HTMLCanvasElement }
interface Rect { x0: number, y0: number, x1: number, y1: number }
interface Level { width: number, height: number, image: ImageData, u32: Uint32Array, canvas: HTMLCanvasElement, dirty: Rect | null }

/** Which level to draw at a screen scale (device pixels per canvas pixel): 0 at or above 1:1. */
export function levelFor (scale: number, maxLevel: number): number {
  if (scale >= 1) return 0
  return Math.min(maxLevel, Math.ceil(Math.log2(1 / scale) - 1e-9))
}

export class MipChain {
  private levels: Level[] = []

  /** A picture of another size: every level is rebuilt when next needed. */
  reset (): void {
    this.levels = []
  }

  /** Part of level 0 changed (level-0 pixels, end exclusive). */
  invalidate (x0: number, y0: number, x1: number, y1: number): void {
    for (const l of this.levels) {
      const d = l.dirty
      l.dirty = d === null ? { x0, y0, x1, y1 } : { x0: Math.min(x0, d.x0), y0: Math.min(y0, d.y0), x1: Math.max(x1, d.x1), y1: Math.max(y1, d.y1) }
    }
  }

  /** The highest level worth having: one whose longer side is still at least 1 pixel. */
  maxLevel (pic: Picture): number {
    return Math.max(0, Math.floor(Math.log2(Math.max(pic.width, pic.height))))
  }

  /** Level `k` of `pic`, brought up to date (level 0 is the picture's own canvas). */
  level (pic: Picture, k: number): HTMLCanvasElement {
    let below = { width: pic.width, height: pic.height, u32: pic.u32 }
    let canvas = pic.canvas
    for (let i = 1; i <= k; i++) {
      const l = this.levels[i - 1] ?? this.create(below.width, below.height, i)
      if (l.dirty !== null) {
        const s = 2 ** i
        const r = { x0: Math.floor(l.dirty.x0 / s), y0: Math.floor(l.dirty.y0 / s), x1: Math.ceil(l.dirty.x1 / s), y1: Math.ceil(l.dirty.y1 / s) }
        halve(below, l, r)
        l.canvas.getContext('2d')!.putImageData(l.image, 0, 0, r.x0, r.y0, r.x1 - r.x0, r.y1 - r.y0)
        l.dirty = null
      }
      below = l
      canvas = l.canvas
    }
    return canvas
  }

  private create (belowWidth: number, belowHeight: number, k: number): Level {
    const width = Math.ceil(belowWidth / 2)
    const height = Math.ceil(belowHeight / 2)
    const canvas = document.createElement('canvas')
    canvas.width = width
    canvas.height = height
    const image = new ImageData(width, height)
    // New: all of it is stale (in level-0 pixels).
    const level: Level = { width, height, image, u32: new Uint32Array(image.data.buffer), canvas, dirty: { x0: 0, y0: 0, x1: width * 2 ** k, y1: height * 2 ** k } }
    this.levels[k - 1] = level
    return level
  }
}

/** Each pixel of `to` in `r` (its own coordinates): the average of the up to 2x2 pixels of `from` under it. */
function halve (from: { width: number, height: number, u32: Uint32Array }, to: Level, r: Rect): void {
  const src = from.u32
  const fw = from.width
  const x1 = Math.min(r.x1, to.width)
  const y1 = Math.min(r.y1, to.height)
  for (let y = r.y0; y < y1; y++) {
    const sy = 2 * y
    const rows = sy + 1 < from.height ? 2 : 1
    for (let x = r.x0; x < x1; x++) {
      const sx = 2 * x
      const cols = sx + 1 < fw ? 2 : 1
      let rr = 0; let g = 0; let b = 0
      for (let j = 0; j < rows; j++) {
        for (let i = 0; i < cols; i++) {
          const v = src[(sy + j) * fw + sx + i]
          rr += v & 0xff
          g += (v >>> 8) & 0xff
          b += (v >>> 16) & 0xff
        }
      }
      const n = rows * cols
      const half = n >> 1
      to.u32[y * to.width + x] = (0xff000000 | (((b + half) / n) << 16) | (((g + half) / n) << 8) | ((rr + half) / n)) >>> 0
    }
  }
}
