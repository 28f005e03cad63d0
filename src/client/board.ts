// The picture: the canvas pixels live in one ImageData (RGBA) that incoming
// frames write into; once per animation frame the dirty part goes to a 1:1
// backing canvas, which is drawn scaled onto the screen canvas with what
// floats above it (pending pixels, cursors, previews): without smoothing at
// 1:1 and above (crisp pixels), through a box-filtered mip level below it (no
// pixel skipped, see mip.ts).
import { PIXEL_RECORD_BYTES, toHexColor } from '../protocol/wire.js'
import { MipChain, levelFor } from './mip.js'

export interface View { scale: number, ox: number, oy: number }
export interface RectPreview { x: number, y: number, w: number, h: number, color: number, ok: boolean }
interface Pending { color: number }
interface RemoteCursor { x: number, y: number, at: number }

const MIN_SCALE = 0.1
const MAX_SCALE = 64
const CURSOR_TTL_MS = 60_000

export class Board {
  width = 0
  height = 0
  readonly view: View = { scale: 1, ox: 0, oy: 0 }
  hover: { x: number, y: number } | null = null
  preview: RectPreview | null = null
  /** names of the people on the canvas, by connection id */
  readonly names = new Map<number, string>()
  ownConnection = -1
  onFirstPaint: (() => void) | null = null
  /** the view moved or zoomed (called from the paint that shows it) */
  onViewChange: (() => void) | null = null
  private shownView = ''

  readonly backing = document.createElement('canvas')
  private readonly backingCtx = this.backing.getContext('2d')!
  private readonly ctx: CanvasRenderingContext2D
  private image: ImageData | null = null
  private u32 = new Uint32Array(0)
  private dirty: { x0: number, y0: number, x1: number, y1: number } | null = null
  private frame = 0
  private painted = false
  private readonly pending = new Map<number, Pending>()
  private readonly cursors = new Map<number, RemoteCursor>()
  private readonly mips = new MipChain()

  constructor (readonly screen: HTMLCanvasElement, readonly insets: () => { top: number, bottom: number } = () => ({ top: 0, bottom: 0 })) {
    this.ctx = screen.getContext('2d', { alpha: false })!
    new ResizeObserver(() => this.requestPaint()).observe(screen)
  }

  get ready (): boolean {
    return this.image !== null
  }

  /** A whole picture from a SNAPSHOT: RGB rows. */
  load (width: number, height: number, rgb: Uint8Array): void {
    const resized = width !== this.width || height !== this.height
    if (resized) {
      this.width = width
      this.height = height
      this.backing.width = width
      this.backing.height = height
      this.image = new ImageData(width, height)
      this.u32 = new Uint32Array(this.image.data.buffer)
      this.mips.reset()
    }
    const u32 = this.u32
    for (let i = 0, o = 0; i < u32.length; i++, o += 3) u32[i] = 0xff000000 | (rgb[o + 2] << 16) | (rgb[o + 1] << 8) | rgb[o]
    // Pending pixels stay shown above the new picture until their draw settles (main.ts drops them then).
    if (resized) this.pending.clear()
    this.dirty = { x0: 0, y0: 0, x1: width, y1: height }
    if (resized || !this.painted) this.fit()
    this.requestPaint()
  }

  /** Packed records (x u16, y u16, r, g, b) from an UPDATES frame. */
  apply (records: Uint8Array, count: number): void {
    if (this.image === null) return
    const { width, height, u32, pending } = this
    let x0 = width; let y0 = height; let x1 = 0; let y1 = 0
    for (let i = 0, o = 0; i < count; i++, o += PIXEL_RECORD_BYTES) {
      const x = (records[o] << 8) | records[o + 1]
      const y = (records[o + 2] << 8) | records[o + 3]
      if (x >= width || y >= height) continue
      const idx = y * width + x
      u32[idx] = 0xff000000 | (records[o + 6] << 16) | (records[o + 5] << 8) | records[o + 4]
      if (pending.size > 0) pending.delete(idx)
      if (x < x0) x0 = x
      if (x >= x1) x1 = x + 1
      if (y < y0) y0 = y
      if (y >= y1) y1 = y + 1
    }
    if (x1 === 0) return
    const d = this.dirty
    this.dirty = d === null ? { x0, y0, x1, y1 } : { x0: Math.min(x0, d.x0), y0: Math.min(y0, d.y0), x1: Math.max(x1, d.x1), y1: Math.max(y1, d.y1) }
    this.requestPaint()
  }

  /** 0xRRGGBB at (x, y) as the server last said. */
  colorAt (x: number, y: number): number {
    const v = this.u32[y * this.width + x]
    return ((v & 0xff) << 16) | (v & 0xff00) | ((v >>> 16) & 0xff)
  }

  inside (x: number, y: number): boolean {
    return x >= 0 && y >= 0 && x < this.width && y < this.height
  }

  // Pixels drawn here but not yet confirmed by the server: shown above the picture.
  addPending (x: number, y: number, color: number): void {
    this.pending.set(y * this.width + x, { color })
    this.requestPaint()
  }

  hasPending (x: number, y: number): boolean {
    return this.pending.has(y * this.width + x)
  }

  /** The colour shown as pending at (x, y), if any. */
  pendingColor (x: number, y: number): number | undefined {
    return this.pending.get(y * this.width + x)?.color
  }

  dropPending (x: number, y: number): void {
    if (this.pending.delete(y * this.width + x)) this.requestPaint()
  }

  /**
   * Forget stale cursors, and every pending pixel when `all`. A sent pixel
   * otherwise stays shown as pending until the server shows it, or the
   * library settles its draw (confirmed, or refused: main.ts drops it).
   */
  expirePending (all = false): void {
    const now = performance.now()
    let changed = false
    if (all && this.pending.size > 0) {
      this.pending.clear()
      changed = true
    }
    for (const [id, c] of this.cursors) {
      if (now - c.at > CURSOR_TTL_MS) {
        this.cursors.delete(id)
        changed = true
      }
    }
    if (changed) this.requestPaint()
  }

  moveCursor (id: number, x: number, y: number): void {
    if (id === this.ownConnection) return
    this.cursors.set(id, { x, y, at: performance.now() })
    this.requestPaint()
  }

  removeCursor (id: number): void {
    if (this.cursors.delete(id)) this.requestPaint()
  }

  clearCursors (): void {
    this.cursors.clear()
    this.requestPaint()
  }

  // The view: screen (CSS px) = o + canvas * scale.
  toCanvas (sx: number, sy: number): { x: number, y: number } {
    const r = this.screen.getBoundingClientRect()
    const { scale, ox, oy } = this.view
    return { x: Math.floor((sx - r.left - ox) / scale), y: Math.floor((sy - r.top - oy) / scale) }
  }

  /** Client (CSS px) coordinates of the centre of pixel (x, y). */
  toScreen (x: number, y: number): { x: number, y: number } {
    const r = this.screen.getBoundingClientRect()
    const { scale, ox, oy } = this.view
    return { x: r.left + ox + (x + 0.5) * scale, y: r.top + oy + (y + 0.5) * scale }
  }

  /** Show the whole canvas between the bars (`insets`: CSS px covered at the top and bottom). */
  fit (): void {
    if (this.width === 0) return
    const { top, bottom } = this.insets()
    const w = this.screen.clientWidth || innerWidth
    const h = Math.max(50, (this.screen.clientHeight || innerHeight) - top - bottom)
    const scale = Math.max(MIN_SCALE, Math.min(MAX_SCALE, 0.96 * Math.min(w / this.width, h / this.height)))
    this.view.scale = scale
    this.view.ox = Math.round((w - this.width * scale) / 2)
    this.view.oy = Math.round(top + (h - this.height * scale) / 2)
    this.requestPaint()
  }

  /** Zoom by `factor` keeping the point under (sx, sy) in place. */
  zoomAt (factor: number, sx: number, sy: number): void {
    const r = this.screen.getBoundingClientRect()
    const px = sx - r.left
    const py = sy - r.top
    const { scale, ox, oy } = this.view
    const next = Math.max(MIN_SCALE, Math.min(MAX_SCALE, scale * factor))
    this.view.ox = px - (px - ox) * next / scale
    this.view.oy = py - (py - oy) * next / scale
    this.view.scale = next
    this.requestPaint()
  }

  /** The canvas point in the middle of the area between the bars, and the scale: what a link to a place holds. */
  place (): { x: number, y: number, zoom: number } {
    const { cx, cy } = this.middle()
    const { scale, ox, oy } = this.view
    return { x: Math.floor((cx - ox) / scale), y: Math.floor((cy - oy) / scale), zoom: scale }
  }

  /** Show pixel (x, y) in the middle of the area between the bars at `zoom`. */
  centreOn (x: number, y: number, zoom: number): void {
    const scale = Math.max(MIN_SCALE, Math.min(MAX_SCALE, zoom))
    const { cx, cy } = this.middle()
    this.view.scale = scale
    this.view.ox = Math.round(cx - (x + 0.5) * scale)
    this.view.oy = Math.round(cy - (y + 0.5) * scale)
    this.requestPaint()
  }

  private middle (): { cx: number, cy: number } {
    const { top, bottom } = this.insets()
    const w = this.screen.clientWidth || innerWidth
    const h = this.screen.clientHeight || innerHeight
    return { cx: w / 2, cy: (top + h - bottom) / 2 }
  }

  zoomCentre (factor: number): void {
    const r = this.screen.getBoundingClientRect()
    this.zoomAt(factor, r.left + r.width / 2, r.top + r.height / 2)
  }

  pan (dx: number, dy: number): void {
    this.view.ox += dx
    this.view.oy += dy
    this.requestPaint()
  }

  requestPaint (): void {
    if (this.frame === 0) this.frame = requestAnimationFrame(() => this.paint())
  }

  private paint (): void {
    this.frame = 0
    const { ctx, screen } = this
    const dpr = devicePixelRatio || 1
    const w = Math.round(screen.clientWidth * dpr)
    const h = Math.round(screen.clientHeight * dpr)
    if (screen.width !== w || screen.height !== h) {
      screen.width = w
      screen.height = h
    }
    ctx.setTransform(1, 0, 0, 1, 0, 0)
    ctx.fillStyle = '#3a3f4b'
    ctx.fillRect(0, 0, w, h)
    if (this.image === null) return
    const d = this.dirty
    if (d !== null) {
      this.backingCtx.putImageData(this.image, 0, 0, d.x0, d.y0, d.x1 - d.x0, d.y1 - d.y0)
      this.mips.invalidate(d.x0, d.y0, d.x1, d.y1)
      this.dirty = null
    }
    const { scale, ox, oy } = this.view
    const pic = { width: this.width, height: this.height, u32: this.u32, canvas: this.backing }
    const level = levelFor(scale * dpr, this.mips.maxLevel(pic))
    const k = 2 ** level
    // Level `level` is at or below the screen's resolution: interpolating it up loses nothing.
    ctx.imageSmoothingEnabled = level > 0
    ctx.setTransform(scale * dpr * k, 0, 0, scale * dpr * k, ox * dpr, oy * dpr)
    ctx.drawImage(this.mips.level(pic, level), 0, 0)
    ctx.setTransform(scale * dpr, 0, 0, scale * dpr, ox * dpr, oy * dpr)
    ctx.imageSmoothingEnabled = false
    this.paintOverlay()
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0)
    this.paintCursors()
    const shown = `${scale},${ox},${oy}`
    if (shown !== this.shownView) {
      this.shownView = shown
      this.onViewChange?.()
    }
    if (!this.painted) {
      this.painted = true
      performance.mark('pixelwire:first-paint')
      this.onFirstPaint?.()
    }
  }

  /** In canvas coordinates: pending pixels, the rect preview, the hovered pixel. */
  private paintOverlay (): void {
    const { ctx, width } = this
    // Not yet confirmed by the server: drawn see-through, solid once it is.
    ctx.globalAlpha = 0.55
    for (const [idx, p] of this.pending) {
      ctx.fillStyle = toHexColor(p.color)
      ctx.fillRect(idx % width, Math.floor(idx / width), 1, 1)
    }
    ctx.globalAlpha = 1
    const line = 1 / this.view.scale
    const pv = this.preview
    if (pv !== null) {
      ctx.globalAlpha = 0.6
      ctx.fillStyle = toHexColor(pv.color)
      ctx.fillRect(pv.x, pv.y, pv.w, pv.h)
      ctx.globalAlpha = 1
      ctx.lineWidth = 2 * line
      ctx.strokeStyle = pv.ok ? '#ffffff' : '#ff3030'
      ctx.strokeRect(pv.x, pv.y, pv.w, pv.h)
    }
    const hv = this.hover
    if (hv !== null && this.view.scale >= 4) {
      ctx.lineWidth = line
      ctx.strokeStyle = 'rgba(0,0,0,0.6)'
      ctx.strokeRect(hv.x, hv.y, 1, 1)
    }
  }

  /** In CSS pixels: everyone else's cursor, with their name. */
  private paintCursors (): void {
    const { ctx } = this
    const { scale, ox, oy } = this.view
    ctx.font = '12px system-ui, sans-serif'
    ctx.textBaseline = 'middle'
    for (const [id, c] of this.cursors) {
      const sx = ox + (c.x + 0.5) * scale
      const sy = oy + (c.y + 0.5) * scale
      const name = this.names.get(id) ?? `#${id}`
      const hue = (id * 47) % 360
      ctx.fillStyle = `hsl(${hue} 80% 45%)`
      ctx.beginPath()
      ctx.moveTo(sx, sy)
      ctx.lineTo(sx + 4, sy + 14)
      ctx.lineTo(sx + 12, sy + 10)
      ctx.closePath()
      ctx.fill()
      const tw = ctx.measureText(name).width
      ctx.fillRect(sx + 12, sy + 12, tw + 8, 16)
      ctx.fillStyle = '#ffffff'
      ctx.fillText(name, sx + 16, sy + 20)
    }
  }
}
