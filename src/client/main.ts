// The pixelwire drawing client: wires the connection, the picture, the
// outbox and the controls together.
import { decodeClaims, expired, forget, guestName, guestToken, readFragment, remember, renewDelayMs, renewGuest, storedToken } from './auth.js'
import { Board } from './board.js'
import { attachInput, typing, type Tool } from './input.js'
import { Net, type NetState } from './net.js'
import { MAX_TRIES, Outbox } from './outbox.js'
import { Picture, REFRESH_MS } from './picture.js'
import { followView, parsePlace } from './place.js'
import { attachTalk } from './talk.js'
import { DEFAULT_ROLE, canDraw as roleCanDraw, encodeCursor, parseHexColor, toHexColor, type ErrorMessage, type Role } from '../protocol/wire.js'
import { $, PALETTE, buildPalette, say, showBudget, showCanvases, showColor, showCooldown, showHistory, showPresence, showQueue, showReadout, showStatus } from './ui.js'

const fragment = readFragment()
const canvasId = fragment.canvas !== undefined && /^[a-z0-9-]{1,32}$/.test(fragment.canvas) ? fragment.canvas : 'main'
/** A place asked for in the link, shown once the first picture is in. */
let askedPlace = parsePlace(location.hash)

let role: Role = 'viewer'
let userName = 'anonymous'
/** The canvas refuses non-admin draws (hello.canvas.frozen, then `canvas` messages). */
let frozen = false
let tool: Tool = 'pencil'
let color = PALETTE[2]
let state: NetState = 'connecting'
let stateDetail = ''
/** ANONYMOUS on the server (GET /api/auth/options); null until asked. */
let anonymousAllowed: boolean | null = null
/** Why the picture stands in for the live canvas (shown in #status while it does). */
let watchReason = ''
let pictureReached = false
const stroke = new Set<number>()
let queueFullSaid = false
let cooldownTotal = 0
let cursorAt: { x: number, y: number } | null = null
let cursorSent: { x: number, y: number } | null = null
let historyRequest = 0

const board = new Board($<HTMLCanvasElement>('board'), () => ({
  top: $('toolbar').getBoundingClientRect().bottom,
  bottom: innerHeight - $('statusbar').getBoundingClientRect().top
}))
board.onViewChange = followView(canvasId, () => board.ready && askedPlace === null ? board.place() : null)

/** A picture was loaded (SNAPSHOT or snapshot.png): the first one goes to the place the link asked for. */
function loaded (): void {
  if (askedPlace === null) return
  board.centreOn(askedPlace.x, askedPlace.y, askedPlace.zoom)
  askedPlace = null
}

const net = new Net(canvasId, {
  state (s, detail) {
    state = s
    stateDetail = detail
    if (s === 'live') {
      picture.stop()
      talk.live(net.hello?.canvas.frozen)
      outbox.resumed()
      outbox.flush()
    }
    renderStatus()
  },
  hello (hello, reset) {
    board.ownConnection = hello.connectionId
    board.names.clear()
    board.clearCursors()
    frozen = hello.canvas.frozen === true
    setRole(hello.user.role, hello.user.name)
    outbox.configure(hello.limits, hello.user.role)
    if (reset) discardQueue('The canvas was reset while you were away')
    else if (signedIn() && !roleCanDraw(role)) discardQueue('You may only watch this canvas')
  },
  snapshot (width, height, rgb) {
    board.load(width, height, rgb)
    loaded()
    outbox.seenPicture((x, y) => board.colorAt(x, y))
  },
  updates (u) {
    board.apply(u.records, u.count)
    outbox.seen(u.records, u.count)
  },
  cursors (list) { for (const c of list) board.moveCursor(c.connectionId, c.x, c.y) },
  presence (p) {
    for (const j of p.joined) board.names.set(j.connectionId, j.name)
    for (const id of p.left) {
      board.names.delete(id)
      board.removeCursor(id)
    }
    showPresence(board.names, p.count ?? board.names.size)
  },
  error: onServerError,
  pong (id) { outbox.passed(id) },
  synced (id) { outbox.synced(id) },
  text (msg) { talk.text(msg) },
  lost () { outbox.connectionLost() },
  tokenExpired () { renewToken().catch(() => {}) },
  handshakeFailed () {
    // The server may be up and refusing (full: 503, or 429): show its picture meanwhile.
    if (!picture.active) watch('The server is not taking live connections now (it may be full): this is a picture of the canvas, refreshed every 5 s; it goes live as soon as the server lets it.')
  },
  anonymousRefused () {
    anonymousAllowed = false
    watch(NO_ANONYMOUS, true)
  }
})
const NO_ANONYMOUS = `Watching a picture of the canvas, refreshed every ${REFRESH_MS / 1000} s. Sign in to see it live and to draw.`
const picture = new Picture(() => canvasId, {
  show (width, height, rgb, at) {
    // The live canvas, or a resume point at or past this picture, is newer.
    if (net.live) return
    if (at !== null && net.epoch === at.epoch && net.seq !== null && net.seq >= at.seq) return
    board.load(width, height, rgb)
    loaded()
  },
  reached (ok) {
    pictureReached = ok
    renderStatus()
  }
})

/**
 * The picture stands in for the live canvas until live (the reason shown in
 * words). `reached`: the server just answered us (so not "reconnecting").
 */
function watch (reason: string, reached = false): void {
  watchReason = reason
  pictureReached = reached
  picture.start()
  renderStatus()
}

/**
 * `watching` (not red: nothing is wrong) while the picture stands in and the
 * server answers; else the connection's own state. A server that does not
 * answer at all stays `reconnecting`.
 */
function renderStatus (): void {
  if (state !== 'live' && picture.active && pictureReached) showStatus('watching', watchReason)
  else showStatus(state, stateDetail)
}

function signedIn (): boolean {
  return net.token !== null
}
const outbox = new Outbox({
  send: (data) => net.send(data),
  get bufferedAmount () { return net.bufferedAmount },
  sent: (x, y) => board.markSent(x, y),
  requeued: (x, y, c) => board.addPending(x, y, c),
  notDrawn (pixels) {
    for (const p of pixels) board.dropPending(p.x, p.y)
    notDrawn.push(...pixels.slice(0, Math.max(0, NOT_DRAWN_KEPT - notDrawn.length)))
    say(`${pixels.length} pixel${pixels.length === 1 ? ' was' : 's were'} not drawn: the server could not save ${pixels.length === 1 ? 'it' : 'them'} after ${MAX_TRIES} tries.`, 'error')
  }
})
/** The first pixels reported not drawn, for scripts (window.pixelwire.notDrawn); bounded. */
const NOT_DRAWN_KEPT = 10_000
const notDrawn: Array<{ x: number, y: number, color: number }> = []

/** Whether a gesture draws: painters and admins (not on a frozen canvas), and visitors not signed in yet (drawing asks them to). */
function canDraw (): boolean {
  return !signedIn() || (roleCanDraw(role) && (!frozen || role === 'admin'))
}

function setRole (next: Role, name: string): void {
  role = next
  userName = name
  const readOnly = !canDraw()
  document.body.classList.toggle('read-only', readOnly)
  for (const b of document.querySelectorAll<HTMLButtonElement>('.tool, .swatch')) b.disabled = readOnly && b.dataset.tool !== 'pan'
  $<HTMLInputElement>('custom-color').disabled = readOnly
  $('user').textContent = !signedIn() ? 'not signed in' : readOnly ? `${name} (view only)` : `${name} (${next})`
  $('signin-button').textContent = signedIn() ? 'Sign out' : 'Sign in'
}

/** Drawing without a token: the one moment the page asks to sign in. */
function askSignIn (): void {
  if (dialog.open) return
  $('signin-error').textContent = 'Sign in to draw: pick a name, or paste a token.'
  dialog.showModal()
  $<HTMLInputElement>('guest-name').focus()
}

function discardQueue (why: string): void {
  const n = outbox.clear()
  board.expirePending(true)
  if (n > 0) say(`${why}: ${n} queued pixels were discarded.`, 'warn')
}

/** Errors the server sends while reading a draw op, before that op's pong. */
const DRAW_ERRORS = new Set(['RATE_LIMITED', 'TOO_LARGE', 'OUT_OF_BOUNDS', 'FORBIDDEN', 'BAD_MESSAGE', 'FROZEN', 'LOCKED', 'BAD_COLOR'])
const ERROR_WORDS: Record<string, string> = {
  FROZEN: 'The canvas is frozen: those pixels were not drawn.',
  LOCKED: 'That part of the canvas is locked by the moderators: those pixels were not drawn.',
  BAD_COLOR: 'That colour is not allowed on this canvas:',
  RATE_LIMITED: 'Slow down: the server refused pixels over your rate limit.',
  TOO_LARGE: 'Too large for the server:',
  OUT_OF_BOUNDS: 'Outside the canvas:',
  FORBIDDEN: 'Not allowed:',
  UNAVAILABLE: 'The server could not save some pixels just now: they are sent again.',
  BAD_MESSAGE: 'The server did not understand a message:'
}

function onServerError (e: ErrorMessage): void {
  if (DRAW_ERRORS.has(e.code)) for (const p of outbox.refused(e.code)) board.dropPending(p.x, p.y)
  if (e.code === 'RATE_LIMITED') {
    outbox.serverCooldown(e.retryAfterMs ?? 1000)
    say(`${ERROR_WORDS.RATE_LIMITED} They are sent again in ${((e.retryAfterMs ?? 1000) / 1000).toFixed(1)} s.`, 'warn')
    return
  }
  const words = ERROR_WORDS[e.code]
  if (words === undefined) say(e.message, 'error')
  else say(words.endsWith(':') ? `${words} ${e.message}` : words, 'error')
}

// Tools and colours.
function setTool (next: Tool): void {
  if (!canDraw() && next !== 'pan') return
  tool = next
  document.body.dataset.tool = next
  for (const b of document.querySelectorAll<HTMLButtonElement>('.tool')) b.setAttribute('aria-pressed', String(b.dataset.tool === next))
}

function setColor (next: number): void {
  color = next
  showColor(color, swatches)
}

const swatches = buildPalette(setColor)
setColor(color)
setTool('pencil')
for (const b of document.querySelectorAll<HTMLButtonElement>('.tool')) b.addEventListener('click', () => setTool(b.dataset.tool as Tool))
$<HTMLInputElement>('custom-color').addEventListener('input', (ev) => setColor(parseHexColor((ev.target as HTMLInputElement).value) ?? color))
$('zoom-in').addEventListener('click', () => board.zoomCentre(1.5))
$('zoom-out').addEventListener('click', () => board.zoomCentre(1 / 1.5))
$('zoom-fit').addEventListener('click', () => board.fit())
$('help-button').addEventListener('click', () => $<HTMLDialogElement>('help').showModal())

// Drawing.
function paint (x: number, y: number): void {
  if (!signedIn()) return askSignIn()
  if (!canDraw()) return
  const idx = y * board.width + x
  if (stroke.has(idx)) return
  stroke.add(idx)
  if (board.colorAt(x, y) === color && !board.hasPending(x, y)) return
  if (!outbox.pixel(x, y, color)) {
    if (!queueFullSaid) say(`${outbox.queued} pixels are already waiting: this one was not drawn. Wait for them to be sent.`, 'warn')
    queueFullSaid = true
    return
  }
  board.addPending(x, y, color)
}

function strokeEnd (): void {
  stroke.clear()
  queueFullSaid = false
  outbox.flush()
}

function fillRect (x: number, y: number, w: number, h: number): void {
  if (!signedIn()) return askSignIn()
  if (!canDraw()) return
  const max = outbox.maxRect
  if (w * h > max) return say(`A rectangle may cover at most ${max} pixels; this one covers ${w * h}.`, 'warn')
  if (!outbox.rect(x, y, w, h, color)) return say(`${outbox.queued} pixels are already waiting: the rectangle was not drawn.`, 'warn')
  for (let j = y; j < y + h; j++) for (let i = x; i < x + w; i++) board.addPending(i, j, color)
  outbox.flush()
}

async function whoPlaced (x: number, y: number, sx: number, sy: number): Promise<void> {
  const id = ++historyRequest
  let text: string
  try {
    const res = await fetch(`/api/canvases/${canvasId}/pixels/${x}/${y}`)
    const body = await res.json() as { user?: string, name?: string, at?: string, color?: string, error?: string, message?: string }
    if (res.ok) text = `(${x}, ${y}) ${body.color}: placed by ${body.name ?? body.user} at ${new Date(body.at ?? '').toLocaleString()}`
    else if (body.error === 'NO_HISTORY') text = `(${x}, ${y}): never painted`
    else text = `(${x}, ${y}): ${body.message ?? `history unavailable (HTTP ${res.status})`}`
  } catch {
    text = `(${x}, ${y}): history unavailable (offline)`
  }
  if (id === historyRequest) showHistory(text, sx, sy)
}

attachInput({
  board,
  tool: () => tool,
  canDraw,
  paint,
  strokeEnd,
  fillRect,
  updatePreview (x, y, w, h) {
    board.preview = w === 0 ? null : { x, y, w, h, color, ok: w * h <= outbox.maxRect }
    board.requestPaint()
  },
  pick (x, y) {
    setColor(board.colorAt(x, y))
    setTool('pencil')
  },
  cursor (x, y) { cursorAt = { x, y } },
  whoPlaced (x, y, sx, sy) { whoPlaced(x, y, sx, sy).catch(() => {}) },
  hideInfo () {
    historyRequest++
    showHistory(null)
  },
  readout (x, y) {
    const inside = board.ready && board.inside(x, y)
    board.hover = inside ? { x, y } : null
    board.requestPaint()
    showReadout(x, y, inside ? board.colorAt(x, y) : null)
  }
})

// Keyboard shortcuts.
const TOOL_KEYS: Record<string, Tool> = { b: 'pencil', p: 'pencil', r: 'rect', i: 'picker', h: 'pan' }
const PAN_KEYS: Record<string, [number, number]> = { ArrowLeft: [64, 0], ArrowRight: [-64, 0], ArrowUp: [0, 64], ArrowDown: [0, -64] }
addEventListener('keydown', (ev) => {
  if (typing(ev) || ev.ctrlKey || ev.metaKey || ev.altKey) return
  if (document.querySelector('dialog[open]') !== null) return
  const k = ev.key
  const key = k.toLowerCase()
  if (TOOL_KEYS[key] !== undefined) setTool(TOOL_KEYS[key])
  else if (/^[0-9]$/.test(k) && canDraw()) setColor(PALETTE[k === '0' ? 9 : Number(k) - 1])
  else if ((k === '[' || k === ']') && canDraw()) {
    const i = PALETTE.indexOf(color)
    setColor(PALETTE[(i + (k === ']' ? 1 : PALETTE.length - 1) + (i < 0 ? 1 : 0)) % PALETTE.length])
  } else if (key === 'c' && canDraw()) $<HTMLInputElement>('custom-color').click()
  else if (k === '+' || k === '=') board.zoomCentre(1.5)
  else if (k === '-' || k === '_') board.zoomCentre(1 / 1.5)
  else if (key === 'f') board.fit()
  else if (k === '?') $<HTMLDialogElement>('help').showModal()
  else if (k === 'Escape') board.preview = null
  else if (PAN_KEYS[k] !== undefined) board.pan(...PAN_KEYS[k])
  else return
  ev.preventDefault()
})

// Sign in.
const dialog = $<HTMLDialogElement>('signin')
function signIn (token: string, guest?: string, store = true): boolean {
  const claims = decodeClaims(token)
  const error = $('signin-error')
  if (claims === null) {
    error.textContent = 'That is not a JWT (three dot-separated parts with sub and exp).'
    return false
  }
  if (expired(claims)) {
    error.textContent = 'That token has expired.'
    return false
  }
  error.textContent = ''
  if (store) remember(token, guest)
  useToken(token)
  if (dialog.open) dialog.close()
  return true
}

function useToken (token: string | null): void {
  net.token = token
  scheduleRenewal(token)
  const claims = token === null ? null : decodeClaims(token)
  setRole(claims === null ? 'viewer' : (claims.role as Role | undefined) ?? DEFAULT_ROLE, claims?.name ?? claims?.sub ?? 'anonymous')
  if (token !== null) {
    picture.stop()
    return net.connect()
  }
  watchWithoutToken().catch(() => {})
}

/**
 * No token: live as an anonymous viewer where the server allows it, else the
 * picture (never a handshake that is sure to be refused with a 401).
 */
async function watchWithoutToken (): Promise<void> {
  if (anonymousAllowed === null) {
    try {
      const res = await fetch('/api/auth/options')
      const body = await res.json() as { anonymous?: string }
      anonymousAllowed = res.ok ? body.anonymous === 'read' : null
    } catch {}
  }
  if (signedIn()) return
  if (anonymousAllowed === true) return net.connect()
  // (The picture first, so stopping the connection never shows as a red "offline".)
  watch(anonymousAllowed === false ? NO_ANONYMOUS : `The server cannot be asked how to watch it now: this is a picture of the canvas, refreshed every ${REFRESH_MS / 1000} s.`, anonymousAllowed === false)
  net.stop('Not signed in.')
}

/**
 * Guests keep their identity across hours: before its `exp` the token is
 * renewed (same sub and name) and put on the open socket in-band
 * (`{"type":"auth"}`), so nothing reconnects. If the server will not renew,
 * the 4401 path below still gets a new guest token.
 */
let renewTimer: ReturnType<typeof setTimeout> | undefined
function scheduleRenewal (token: string | null): void {
  clearTimeout(renewTimer)
  const claims = token === null ? null : decodeClaims(token)
  const delay = claims === null ? null : renewDelayMs(claims)
  if (token === null || delay === null) return
  renewTimer = setTimeout(() => {
    renewGuest(token).then((next) => {
      if (net.token !== token) return // signed out or in as someone else meanwhile
      remember(next, guestName() ?? undefined)
      net.token = next
      net.send(JSON.stringify({ type: 'auth', token: next }))
      scheduleRenewal(next)
    }, () => {})
  }, delay)
}

async function renewToken (): Promise<void> {
  const name = guestName()
  if (name !== null) {
    try {
      const token = await guestToken(name)
      remember(token, name)
      return useToken(token)
    } catch (err) {
      say((err as Error).message, 'error')
    }
  }
  forget()
  net.stop('Your session has expired: sign in again.')
  $('signin-error').textContent = 'Your session has expired: sign in again.'
  if (!dialog.open) dialog.showModal()
}

$('guest-form').addEventListener('submit', (ev) => {
  ev.preventDefault()
  const name = $<HTMLInputElement>('guest-name').value.trim()
  const button = (ev.target as HTMLFormElement).querySelector('button')!
  button.disabled = true
  guestToken(name).then((token) => signIn(token, name), (err: Error) => { $('signin-error').textContent = err.message })
    .finally(() => { button.disabled = false })
})
$('token-form').addEventListener('submit', (ev) => {
  ev.preventDefault()
  signIn($<HTMLTextAreaElement>('token-input').value.trim())
})
$('watch-button').addEventListener('click', () => {
  dialog.close()
  $('signin-error').textContent = ''
  if (signedIn()) useToken(null)
})
$('signin-button').addEventListener('click', () => {
  if (net.token !== null) {
    forget()
    discardQueue('Signed out')
    useToken(null)
  }
  dialog.showModal()
})

// Once per tick: send what may go, show what waits.
setInterval(function tick () {
  outbox.flush()
  const live = state === 'live'
  const cd = live ? outbox.cooldown() : null
  cooldownTotal = cd === null ? 0 : Math.max(cooldownTotal, cd.waitMs)
  showCooldown(cd?.waitMs ?? null, cd?.queued ?? 0, cooldownTotal)
  showQueue(cd === null ? outbox.queued : 0, live)
  showBudget(signedIn() ? outbox.budget() : null)
  const hv = board.hover
  if (hv !== null) showReadout(hv.x, hv.y, board.colorAt(hv.x, hv.y))
  if (live && canDraw() && cursorAt !== null && (cursorSent?.x !== cursorAt.x || cursorSent?.y !== cursorAt.y)) {
    if (net.send(encodeCursor(cursorAt.x, cursorAt.y))) cursorSent = cursorAt
  }
}, 50)
setInterval(() => board.expirePending(), 500)

// Chat, notices, the canvas's state in words.
const talk = attachTalk(canvasId, {
  send: (text) => net.send(text),
  speaker: () => signedIn() && roleCanDraw(role) ? userName : null,
  reset: () => discardQueue('The canvas was reset'),
  frozen (f) {
    frozen = f
    setRole(role, userName)
  }
})

// The canvas: its name, and the others to pick from (another canvas is a reload: a new socket, picture and queue).
document.title = `${canvasId} · pixelwire`
fetch('/api/canvases').then(async (res) => {
  showCanvases(canvasId, res.ok ? await res.json() as Array<{ id: string, width: number, height: number }> : [])
}, () => showCanvases(canvasId, [])).catch(() => {})
$<HTMLSelectElement>('canvas-picker').addEventListener('change', (ev) => {
  const id = (ev.target as HTMLSelectElement).value
  if (id !== canvasId) location.hash = `canvas=${id}`
})
addEventListener('hashchange', () => {
  const next = new URLSearchParams(location.hash.replace(/^#/, '')).get('canvas') ?? 'main'
  if (next !== canvasId) return location.reload()
  const p = parsePlace(location.hash)
  if (p !== null && board.ready) board.centreOn(p.x, p.y, p.zoom)
})

// A read-only handle for scripts and tests: what the page shows, where.
Object.assign(window, {
  pixelwire: {
    board,
    net,
    outbox,
    /** pixels the page accepted that the server did not draw (reported in words too) */
    notDrawn,
    /** [r, g, b] of pixel (x, y) as painted on the page's canvas */
    pixel (x: number, y: number): number[] {
      const d = board.backing.getContext('2d')!.getImageData(x, y, 1, 1).data
      return [d[0], d[1], d[2]]
    },
    toScreen: (x: number, y: number) => board.toScreen(x, y),
    color: () => toHexColor(color)
  }
})

// A first visit shows the canvas at once (the public picture), and asks to
// sign in only when the visitor draws.
const initial = fragment.token ?? storedToken()
if (initial !== null && signIn(initial, undefined, false)) {
  // signed in from the fragment or storage
} else {
  picture.refresh().catch(() => {})
  useToken(null)
}
