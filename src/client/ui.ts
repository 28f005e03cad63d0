// Small DOM pieces: status, messages, palette, readout, presence, cooldown.
import { toHexColor } from '../protocol/wire.js'

export function $<T extends HTMLElement = HTMLElement> (id: string): T {
  const el = document.getElementById(id)
  if (el === null) throw new Error(`#${id} is missing from the page`)
  return el as T
}

/** The 32 colours of r/place 2022. */
export const PALETTE = [
  0x6d001a, 0xbe0039, 0xff4500, 0xffa800, 0xffd635, 0xfff8b8, 0x00a368, 0x00cc78,
  0x7eed56, 0x00756f, 0x009eaa, 0x00ccc0, 0x2450a4, 0x3690ea, 0x51e9f4, 0x493ac1,
  0x6a5cff, 0x94b3ff, 0x811e9f, 0xb44ac0, 0xe4abff, 0xde107f, 0xff3881, 0xff99aa,
  0x6d482f, 0x9c6926, 0xffb470, 0x000000, 0x515252, 0x898d90, 0xd4d7d9, 0xffffff
]

/** `watching`: not live, the public picture stands in (refreshed), and the words say why. */
export type ShownState = 'connecting' | 'live' | 'reconnecting' | 'offline' | 'watching'
const STATE_WORDS: Record<ShownState, string> = { connecting: 'connecting', live: 'live', reconnecting: 'reconnecting', offline: 'offline', watching: 'watching' }

export function showStatus (state: ShownState, detail: string): void {
  const el = $('status')
  el.dataset.state = state
  el.title = detail
  $('status-text').textContent = state === 'live' ? STATE_WORDS[state] : `${STATE_WORDS[state]}: ${detail}`
}

/** A message in words; errors stay longer, and notices from the admins longest. */
export function say (text: string, kind: 'info' | 'warn' | 'error' | 'notice' = 'info'): void {
  const box = $('messages')
  const el = document.createElement('div')
  el.className = `message ${kind}`
  el.textContent = text
  box.append(el)
  while (box.children.length > 4) box.firstElementChild?.remove()
  setTimeout(() => el.remove(), kind === 'info' ? 4000 : kind === 'notice' ? 20_000 : 8000)
}

export function buildPalette (onPick: (color: number) => void): HTMLButtonElement[] {
  const box = $('palette')
  return PALETTE.map((color, i) => {
    const b = document.createElement('button')
    b.type = 'button'
    b.className = 'swatch'
    b.setAttribute('role', 'radio')
    b.setAttribute('aria-checked', 'false')
    b.dataset.color = toHexColor(color)
    b.style.background = toHexColor(color)
    const key = i < 9 ? String(i + 1) : i === 9 ? '0' : ''
    b.title = `${toHexColor(color)}${key === '' ? '' : ` (${key})`}`
    b.setAttribute('aria-label', `Colour ${toHexColor(color)}`)
    if (key !== '') b.setAttribute('aria-keyshortcuts', key)
    b.addEventListener('click', () => onPick(color))
    box.append(b)
    return b
  })
}

export function showColor (color: number, swatches: HTMLButtonElement[]): void {
  let inPalette = false
  for (const b of swatches) {
    const on = b.dataset.color === toHexColor(color)
    inPalette ||= on
    b.setAttribute('aria-checked', String(on))
  }
  const custom = $<HTMLInputElement>('custom-color')
  custom.classList.toggle('selected', !inPalette)
  if (!inPalette) custom.value = toHexColor(color)
}

export function showReadout (x: number, y: number, color: number | null): void {
  const el = $('readout')
  if (color === null) {
    el.textContent = '–'
    return
  }
  el.innerHTML = ''
  const chip = document.createElement('span')
  chip.className = 'chip'
  chip.style.background = toHexColor(color)
  el.append(chip, `${x}, ${y} ${toHexColor(color)}`)
}

export function showPresence (names: Map<number, string>, count: number): void {
  $('presence-count').textContent = String(count)
  const list = $('presence-list')
  list.replaceChildren(...[...names.values()].sort().map((n) => {
    const li = document.createElement('li')
    li.textContent = n
    return li
  }))
}

export function showQueue (queued: number, live: boolean): void {
  const el = $('queue')
  el.hidden = queued === 0
  el.textContent = live ? `${queued} pixels sending` : `${queued} pixels queued until reconnected`
}

export function showCooldown (waitMs: number | null, queued: number, totalMs: number): void {
  const el = $('cooldown')
  if (waitMs === null) {
    el.hidden = true
    delete el.dataset.active
    return
  }
  el.hidden = false
  el.dataset.active = 'true'
  const bar = el.querySelector<HTMLElement>('.bar span')
  if (bar !== null) bar.style.width = `${Math.max(0, Math.min(100, 100 * waitMs / Math.max(totalMs, 1)))}%`
  $('cooldown-text').textContent = `Cooldown ${(waitMs / 1000).toFixed(1)} s` + (queued > 0 ? ` · ${queued} pixels waiting` : '')
}

/** r/place style: "12 pixels ready", or "next pixel in 4:59". */
export function showBudget (budget: { ready: number, nextInMs: number } | null): void {
  const el = $('budget')
  el.hidden = budget === null
  if (budget === null) return
  let text: string
  if (budget.ready > 0) text = `${budget.ready} pixel${budget.ready === 1 ? '' : 's'} ready`
  else {
    const sec = Math.ceil(budget.nextInMs / 1000)
    text = `next pixel in ${Math.floor(sec / 60)}:${String(sec % 60).padStart(2, '0')}`
  }
  if (el.textContent !== text) el.textContent = text
  el.dataset.ready = String(budget.ready > 0)
}

/** The canvas picker: every canvas, the current one selected (and shown even if the list lacks it). */
export function showCanvases (current: string, list: Array<{ id: string, width: number, height: number }>): void {
  const select = $<HTMLSelectElement>('canvas-picker')
  const options = list.map((c) => new Option(`${c.id} (${c.width}×${c.height})`, c.id, false, c.id === current))
  if (!list.some((c) => c.id === current)) options.unshift(new Option(current, current, false, true))
  select.replaceChildren(...options)
}

export function showHistory (text: string | null, sx = 0, sy = 0): void {
  const el = $('history')
  if (text === null) {
    el.hidden = true
    return
  }
  el.textContent = text
  el.style.left = `${Math.min(sx + 16, innerWidth - 290)}px`
  el.style.top = `${Math.max(sy - 36, 4)}px`
  el.hidden = false
}
