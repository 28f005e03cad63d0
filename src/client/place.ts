// A link to a place: `#x,y,zoom` in the fragment (beside `canvas=ID` for a
// canvas other than main), honoured on load and kept up to date, without
// new history entries, as the view moves. x and y are the canvas pixel in the
// middle of the view, zoom the scale (screen pixels per canvas pixel).

export interface Place { x: number, y: number, zoom: number }

const PLACE = /^(\d{1,5}),(\d{1,5}),(\d{1,3}(?:\.\d{1,4})?)$/

/** The place in a fragment, or null; any `&`-separated part may hold it (URL-encoded or not). */
export function parsePlace (hash: string): Place | null {
  for (const part of hash.replace(/^#/, '').split('&')) {
    let text: string
    try {
      text = decodeURIComponent(part).replace(/=$/, '')
    } catch {
      continue
    }
    const m = PLACE.exec(text)
    if (m !== null && Number(m[3]) > 0) return { x: Number(m[1]), y: Number(m[2]), zoom: Number(m[3]) }
  }
  return null
}

/** The fragment for a place on a canvas. */
export function placeFragment (canvasId: string, p: Place): string {
  const zoom = Number(p.zoom.toFixed(p.zoom < 1 ? 3 : 2))
  return '#' + (canvasId === 'main' ? '' : `canvas=${canvasId}&`) + `${p.x},${p.y},${zoom}`
}

/** Keeps the address bar on the view: at most one replaceState per `everyMs`. */
export function followView (canvasId: string, place: () => Place | null, everyMs = 250): () => void {
  let timer: ReturnType<typeof setTimeout> | undefined
  return function viewMoved () {
    if (timer !== undefined) return
    timer = setTimeout(() => {
      timer = undefined
      const p = place()
      if (p !== null) history.replaceState(history.state, '', location.pathname + location.search + placeFragment(canvasId, p))
    }, everyMs)
  }
}
