// Pointer, wheel and touch on the canvas: draw with the pencil (a drag is a
// stroke), drag a rectangle, pick a colour, pan (pan tool, Space, right or
// middle button, two fingers), zoom (wheel, pinch), and "who placed this" on
// hover or long-press.
import type { Board } from './board.js'

export type Tool = 'pencil' | 'rect' | 'picker' | 'pan'

export interface InputHost {
  readonly board: Board
  tool (): Tool
  canDraw (): boolean
  paint (x: number, y: number): void
  strokeEnd (): void
  fillRect (x: number, y: number, w: number, h: number): void
  updatePreview (x: number, y: number, w: number, h: number): void
  pick (x: number, y: number): void
  cursor (x: number, y: number): void
  whoPlaced (x: number, y: number, sx: number, sy: number): void
  hideInfo (): void
  readout (x: number, y: number): void
}

const HOVER_MS = 700
const LONG_PRESS_MS = 550
const TAP_SLOP_PX = 8

type Gesture =
  | { kind: 'none' }
  | { kind: 'stroke', x: number, y: number }
  | { kind: 'rect', x0: number, y0: number, x: number, y: number }
  | { kind: 'pan', sx: number, sy: number }
  | { kind: 'pinch', dist: number, cx: number, cy: number }
  /** a touch that may become a tap, a stroke or a long-press */
  | { kind: 'touch', sx: number, sy: number }

/** Every pixel on the line from (x0, y0) to (x1, y1), ends included (Bresenham). */
export function line (x0: number, y0: number, x1: number, y1: number, each: (x: number, y: number) => void): void {
  const dx = Math.abs(x1 - x0)
  const dy = -Math.abs(y1 - y0)
  const sx = x0 < x1 ? 1 : -1
  const sy = y0 < y1 ? 1 : -1
  let err = dx + dy
  for (;;) {
    each(x0, y0)
    if (x0 === x1 && y0 === y1) return
    const e2 = 2 * err
    if (e2 >= dy) { err += dy; x0 += sx }
    if (e2 <= dx) { err += dx; y0 += sy }
  }
}

export function attachInput (host: InputHost): { spaceHeld: () => boolean } {
  const { board } = host
  const el = board.screen
  const pointers = new Map<number, { x: number, y: number }>()
  let gesture: Gesture = { kind: 'none' }
  let space = false
  let hoverTimer: ReturnType<typeof setTimeout> | undefined
  let pressTimer: ReturnType<typeof setTimeout> | undefined

  function setPanning (on: boolean): void {
    document.body.classList.toggle('panning', on)
  }

  function startPinch (): void {
    const [a, b] = [...pointers.values()]
    gesture = { kind: 'pinch', dist: Math.hypot(a.x - b.x, a.y - b.y), cx: (a.x + b.x) / 2, cy: (a.y + b.y) / 2 }
  }

  function beginStroke (x: number, y: number): void {
    gesture = { kind: 'stroke', x, y }
    if (board.inside(x, y)) host.paint(x, y)
  }

  function onDown (ev: PointerEvent): void {
    el.focus({ preventScroll: true })
    el.setPointerCapture(ev.pointerId)
    pointers.set(ev.pointerId, { x: ev.clientX, y: ev.clientY })
    clearTimeout(hoverTimer)
    host.hideInfo()
    if (pointers.size === 2) {
      if (gesture.kind === 'stroke') host.strokeEnd()
      if (gesture.kind === 'rect') host.updatePreview(0, 0, 0, 0)
      clearTimeout(pressTimer)
      return startPinch()
    }
    if (pointers.size > 2) return
    const p = board.toCanvas(ev.clientX, ev.clientY)
    const tool = host.tool()
    const draws = host.canDraw()
    if (ev.button === 1 || ev.button === 2 || space || tool === 'pan' || (!draws && tool !== 'picker' && ev.pointerType !== 'touch')) {
      gesture = { kind: 'pan', sx: ev.clientX, sy: ev.clientY }
      return setPanning(true)
    }
    if (ev.button !== 0) return
    if (tool === 'picker' || ev.altKey) {
      if (board.inside(p.x, p.y)) host.pick(p.x, p.y)
      return
    }
    if (ev.pointerType === 'touch') {
      // A finger: tap paints, drag strokes (or pans for viewers), holding still asks who placed it.
      gesture = { kind: 'touch', sx: ev.clientX, sy: ev.clientY }
      pressTimer = setTimeout(() => {
        if (gesture.kind !== 'touch') return
        gesture = { kind: 'none' }
        if (board.inside(p.x, p.y)) host.whoPlaced(p.x, p.y, ev.clientX, ev.clientY)
      }, LONG_PRESS_MS)
      return
    }
    if (tool === 'rect') {
      gesture = { kind: 'rect', x0: p.x, y0: p.y, x: p.x, y: p.y }
      return rectPreview()
    }
    beginStroke(p.x, p.y)
  }

  function rectBox (g: Gesture & { kind: 'rect' }): { x: number, y: number, w: number, h: number } {
    const x0 = Math.max(0, Math.min(g.x0, g.x))
    const y0 = Math.max(0, Math.min(g.y0, g.y))
    const x1 = Math.min(board.width - 1, Math.max(g.x0, g.x))
    const y1 = Math.min(board.height - 1, Math.max(g.y0, g.y))
    return { x: x0, y: y0, w: Math.max(0, x1 - x0 + 1), h: Math.max(0, y1 - y0 + 1) }
  }

  function rectPreview (): void {
    if (gesture.kind !== 'rect') return
    const r = rectBox(gesture)
    host.updatePreview(r.x, r.y, r.w, r.h)
  }

  function onMove (ev: PointerEvent): void {
    const prev = pointers.get(ev.pointerId)
    if (prev !== undefined) pointers.set(ev.pointerId, { x: ev.clientX, y: ev.clientY })
    const p = board.toCanvas(ev.clientX, ev.clientY)
    host.readout(p.x, p.y)
    if (board.inside(p.x, p.y)) host.cursor(p.x, p.y)
    switch (gesture.kind) {
      case 'none':
        if (ev.pointerType === 'mouse') {
          clearTimeout(hoverTimer)
          host.hideInfo()
          if (board.inside(p.x, p.y)) hoverTimer = setTimeout(() => host.whoPlaced(p.x, p.y, ev.clientX, ev.clientY), HOVER_MS)
        }
        return
      case 'pan':
        board.pan(ev.clientX - gesture.sx, ev.clientY - gesture.sy)
        gesture.sx = ev.clientX
        gesture.sy = ev.clientY
        return
      case 'pinch': {
        if (pointers.size < 2) return
        const [a, b] = [...pointers.values()]
        const dist = Math.hypot(a.x - b.x, a.y - b.y)
        const cx = (a.x + b.x) / 2
        const cy = (a.y + b.y) / 2
        board.pan(cx - gesture.cx, cy - gesture.cy)
        if (gesture.dist > 0) board.zoomAt(dist / gesture.dist, cx, cy)
        gesture = { kind: 'pinch', dist, cx, cy }
        return
      }
      case 'touch': {
        if (Math.hypot(ev.clientX - gesture.sx, ev.clientY - gesture.sy) < TAP_SLOP_PX) return
        clearTimeout(pressTimer)
        const start = board.toCanvas(gesture.sx, gesture.sy)
        if (!host.canDraw() || host.tool() === 'pan') {
          gesture = { kind: 'pan', sx: ev.clientX, sy: ev.clientY }
          return
        }
        if (host.tool() === 'rect') gesture = { kind: 'rect', x0: start.x, y0: start.y, x: p.x, y: p.y }
        else beginStroke(start.x, start.y)
        return onMove(ev)
      }
      case 'stroke': {
        const g = gesture
        if (p.x === g.x && p.y === g.y) return
        line(g.x, g.y, p.x, p.y, (x, y) => { if (board.inside(x, y)) host.paint(x, y) })
        g.x = p.x
        g.y = p.y
        return
      }
      case 'rect':
        gesture.x = p.x
        gesture.y = p.y
        return rectPreview()
    }
  }

  function onUp (ev: PointerEvent): void {
    pointers.delete(ev.pointerId)
    clearTimeout(pressTimer)
    const g = gesture
    if (g.kind === 'pinch') {
      if (pointers.size < 2) gesture = { kind: 'none' }
      return
    }
    gesture = { kind: 'none' }
    setPanning(false)
    if (ev.type === 'pointercancel') {
      if (g.kind === 'stroke') host.strokeEnd()
      if (g.kind === 'rect') host.updatePreview(0, 0, 0, 0)
      return
    }
    if (g.kind === 'touch') {
      const p = board.toCanvas(g.sx, g.sy)
      if (host.canDraw() && host.tool() === 'pencil' && board.inside(p.x, p.y)) {
        host.paint(p.x, p.y)
        host.strokeEnd()
      }
    } else if (g.kind === 'stroke') {
      host.strokeEnd()
    } else if (g.kind === 'rect') {
      const r = rectBox(g)
      host.updatePreview(0, 0, 0, 0)
      if (r.w > 0 && r.h > 0) host.fillRect(r.x, r.y, r.w, r.h)
    }
  }

  el.addEventListener('pointerdown', onDown)
  el.addEventListener('pointermove', onMove)
  el.addEventListener('pointerup', onUp)
  el.addEventListener('pointercancel', onUp)
  el.addEventListener('pointerleave', () => {
    clearTimeout(hoverTimer)
    host.hideInfo()
    board.hover = null
    board.requestPaint()
  })
  el.addEventListener('contextmenu', (ev) => ev.preventDefault())
  el.addEventListener('wheel', (ev) => {
    ev.preventDefault()
    const unit = ev.deltaMode === 1 ? 16 : ev.deltaMode === 2 ? 400 : 1
    board.zoomAt(Math.exp(-ev.deltaY * unit * 0.0015), ev.clientX, ev.clientY)
  }, { passive: false })
  addEventListener('keydown', (ev) => { if (ev.code === 'Space' && !typing(ev)) { space = true; if (ev.target === el) ev.preventDefault() } })
  addEventListener('keyup', (ev) => { if (ev.code === 'Space') space = false })
  addEventListener('blur', () => { space = false })
  return { spaceHeld: () => space }
}

/** True when a key goes to a text field, not to the shortcuts. */
export function typing (ev: KeyboardEvent): boolean {
  const t = ev.target as HTMLElement | null
  return t !== null && (t.tagName === 'INPUT' || t.tagName === 'TEXTAREA' || t.isContentEditable)
}
