// The pixelwire drawing client: wires the connection (the pixelwire/client
// library: connect, resume, reconnect, renewal, draws settled by the commit
// barrier, streams), the picture and the controls together. One library
// client per identity: signing in or out closes it and starts another.
import { PixelwireClient, PixelwireError, type ClientEvents, type ClientState, type StateDetail } from '../client-lib/index.js'
import { decodeClaims, expired, forget, guestName, guestToken, readFragment, remember, renewDelayMs, renewGuest, storedToken } from './auth.js'
import { Board } from './board.js'
import { attachInput, typing, type Tool } from './input.js'
import { Picture, REFRESH_MS } from './picture.js'
import { followView, parsePlace } from './place.js'
import { attachTalk } from './talk.js'
import { DEFAULT_ROLE, canDraw as roleCanDraw, parseHexColor, toHexColor, type Role } from '../protocol/wire.js'
import { $, PALETTE, buildPalette, say, showBudget, showCanvases, showColor, showCooldown, showHistory, showPresence, showQueue, showReadout, showStatus } from './ui.js'

const fragment = readFragment()
const canvasId = fragment.canvas !== undefined && /^[a-z0-9-]{1,32}$/.test(fragment.canvas) ? fragment.canvas : 'main'
/** A place asked for in the link, shown once the first picture is in. */
let askedPlace = parsePlace(location.hash)

/** Pixels drawn and not settled (queued in the library or not yet handed to it), at most: drawing beyond is refused in words. */
const QUEUE_CAP = 5000
/** How often one pixel is sent before it is reported not drawn (the library's maxAttempts). */
const MAX_TRIES = 3
/** Backoff: 500 ms doubling to 10 s, each wait drawn from [half, all] of it (the library's). */
const BACKOFF = { baseMs: 500, maxMs: 10_000 }
/** Guests renew five minutes before `exp`, or halfway through a shorter life (the library takes the later of the two). */
const GUEST_RENEW_BEFORE_MS = 300_000
/** Close codes after which the library does not reconnect, in words (contract §6 and docs/protocol.md). */
const FATAL: Record<number, string> = {
  1002: 'The server reported a protocol error.',
  1007: 'The server reported invalid text.',
  1008: 'The server refused a message as against its policy.',
  1009: 'A message was too large for the server.',
  4400: 'Too many rejected messages: the server closed the connection.',
  4403: 'You were disconnected by an administrator.',
  4404: 'This canvas was deleted.'
}

type Shown = 'connecting' | 'live' | 'reconnecting' | 'offline'

let role: Role = 'viewer'
let userName = 'anonymous'
/** The canvas refuses non-admin draws (hello.canvas.frozen, then `canvas` messages). */
let frozen = false
let tool: Tool = 'pencil'
let color = PALETTE[2]
let state: Shown = 'connecting'
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

/** The token this page holds (renewed in place), null when not signed in. */
let token: string | null = null
/** The library client of this identity; null when there is none (watching the picture without a token). */
let client: PixelwireClient | null = null
/** Whether the current client was ever live (then a drop is "reconnecting", before it "connecting"). */
let everLive = false
/** Handshakes of the current client that failed before a hello (refused, or the server is down). */
let failedHandshakes = 0
/** The epoch the page shows: a hello with another one means the canvas was reset meanwhile. */
let shownEpoch: string | null = null
/** Pixels drawn since the last flush, not yet handed to the library (handed every tick and at each stroke's end). */
let drawn: Array<{ x: number, y: number, color: number }> = []

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

function wsUrl (): string {
  const url = new URL('/ws', location.href)
  url.protocol = location.protocol === 'https:' ? 'wss:' : 'ws:'
  return url.toString()
}

/** A new library client for the token held now (anonymous without one); the previous one is closed. */
function startClient (): void {
  stopClient()
  const claims = token === null ? null : decodeClaims(token)
  const c: PixelwireClient = new PixelwireClient({
    url: wsUrl(),
    canvas: canvasId,
    // The token rides as a subprotocol entry (the library's default), never in the URL.
    getToken: token === null ? undefined : (why) => tokenFor(c, why.renew),
    // Only the server's guests can be renewed (POST /api/auth/guest/renew).
    renew: claims !== null && renewDelayMs(claims) !== null,
    renewBeforeMs: GUEST_RENEW_BEFORE_MS,
    maxQueuedPixels: QUEUE_CAP,
    maxAttempts: MAX_TRIES,
    backoff: BACKOFF
  })
  client = c
  everLive = false
  failedHandshakes = 0
  // Events of a client the page has replaced are not this page's any more.
  const on = <K extends keyof ClientEvents>(event: K, fn: ClientEvents[K]): void => {
    c.on(event, ((...args: unknown[]) => { if (client === c) (fn as (...a: unknown[]) => void)(...args) }) as ClientEvents[K])
  }
  on('state', (s: ClientState, d: StateDetail) => onState(c, s, d))
  on('hello', (hello) => {
    const reset = shownEpoch !== null && hello.canvas.epoch !== shownEpoch
    shownEpoch = hello.canvas.epoch
    board.ownConnection = hello.connectionId
    board.names.clear()
    board.clearCursors()
    frozen = hello.canvas.frozen === true
    setRole(hello.user.role, hello.user.name)
    if (reset) discardQueue('The canvas was reset while you were away')
    else if (signedIn() && !roleCanDraw(role)) discardQueue('You may only watch this canvas')
  })
  on('snapshot', (canvas) => {
    board.load(canvas.width, canvas.height, canvas.rgb)
    loaded()
  })
  on('updates', (u) => board.apply(u.records, u.count))
  on('cursors', (list) => { for (const e of list) board.moveCursor(e.connectionId, e.x, e.y) })
  on('presence', (p) => {
    for (const j of p.joined) board.names.set(j.connectionId, j.name)
    for (const id of p.left) {
      board.names.delete(id)
      board.removeCursor(id)
    }
    showPresence(board.names, p.count ?? board.names.size)
  })
  on('canvas', (m) => { if (typeof m.epoch === 'string') shownEpoch = m.epoch })
  on('retry', (e) => {
    if (e.code === 'RATE_LIMITED') say(`${ERROR_WORDS.RATE_LIMITED} They are sent again in ${((e.retryAfterMs ?? 1000) / 1000).toFixed(1)} s.`, 'warn')
    else say(ERROR_WORDS.UNAVAILABLE, 'error')
  })
  on('error', onClientError)
  on('close', () => {
    // No hello on that socket: the handshake failed (refused, full, or the server is down).
    if (c.hello === null) handshakeFailed(c)
  })
  talk.attach(c)
  c.connect().catch(() => {}) // a close that cannot be retried: the state event says it
}

/** Close the current client (its unsettled draws are rejected CLOSED and said discarded). */
function stopClient (): void {
  const c = client
  client = null
  c?.close()
}

/**
 * The token for a connection (`renew`: for the open socket, a later exp).
 * Guests are renewed in-band (same sub and name); an expired guest token
 * gets a new guest under the same name (as before renewal existed); any
 * other expired token means signing in again.
 */
async function tokenFor (c: PixelwireClient, renew: boolean): Promise<string> {
  const current = token
  if (current === null || client !== c) throw new Error('not signed in')
  if (renew) {
    const next = await renewGuest(current)
    if (token !== current) throw new Error('signed in as someone else meanwhile')
    remember(next, guestName() ?? undefined)
    token = next
    return next
  }
  const claims = decodeClaims(current)
  if (claims !== null && !expired(claims)) return current
  const name = guestName()
  if (name !== null) {
    const next = await guestToken(name)
    if (token !== current) throw new Error('signed in as someone else meanwhile')
    remember(next, name)
    token = next
    return next
  }
  sessionExpired()
  throw new Error('the session expired')
}

function sessionExpired (): void {
  forget()
  token = null
  stopClient()
  setState('offline', 'Your session has expired: sign in again.')
  setRole('viewer', 'anonymous')
  $('signin-error').textContent = 'Your session has expired: sign in again.'
  if (!dialog.open) dialog.showModal()
}

function onState (c: PixelwireClient, s: ClientState, d: StateDetail): void {
  switch (s) {
    case 'idle':
    case 'connecting':
      return setState('connecting', 'Connecting…')
    case 'live':
      everLive = true
      failedHandshakes = 0
      picture.stop()
      talk.live(c.hello?.canvas.frozen)
      flush()
      return setState('live', 'Live')
    case 'reconnecting': {
      if (!navigator.onLine) return setState('offline', 'Your browser is offline; waiting for the network.')
      const why = d.code === 4429
        ? 'Too many rate-limited actions; reconnecting after a pause…'
        : d.code === 1001 && everLive ? 'The server is restarting; reconnecting…' : everLive ? 'Connection lost; reconnecting…' : 'Cannot connect yet; retrying…'
      return setState(everLive ? 'reconnecting' : 'connecting', d.delayMs === undefined ? why : `${why} (in ${(d.delayMs / 1000).toFixed(1)} s)`)
    }
    case 'closed':
      // Only a close the library decided (the page's own closes come from a client it no longer holds).
      return setState('offline', FATAL[d.code ?? 0] ?? `The server closed the connection (${d.code ?? '?'}${d.reason ? `: ${d.reason}` : ''}).`)
  }
}

function setState (s: Shown, detail: string): void {
  state = s
  stateDetail = detail
  renderStatus()
}

// The network came back: try now rather than at the end of the backoff.
addEventListener('online', () => { if (client !== null && client.state === 'reconnecting') client.reconnect() })

/**
 * A handshake failed before its `hello`: to a browser a refusal looks like
 * any network failure. The picture stands in meanwhile (the server may be
 * full: 503, or 429). If the server answers /health, the refusal was about
 * us: an anonymous visitor must sign in; a token may be invalid.
 */
function handshakeFailed (c: PixelwireClient): void {
  failedHandshakes++
  if (!picture.active) watch(`The server is not taking live connections now (it may be full): this is a picture of the canvas, refreshed every ${REFRESH_MS / 1000} s; it goes live as soon as the server lets it.`)
  const anonymous = token === null
  const tries = failedHandshakes
  fetch('/health', { cache: 'no-store' }).then((res) => {
    if (client !== c || everLive || !res.ok) return
    if (anonymous) {
      anonymousAllowed = false
      stopClient()
      watch(NO_ANONYMOUS, true)
      setState('offline', 'Not signed in.')
    } else if (tries === 3) {
      say('The server is up but refuses the connection: the token may be invalid or expired, or there are too many connections. Still retrying.', 'error')
    }
  }, () => {})
}

const NO_ANONYMOUS = `Watching a picture of the canvas, refreshed every ${REFRESH_MS / 1000} s. Sign in to see it live and to draw.`
const picture = new Picture(() => canvasId, {
  show (width, height, rgb, at) {
    // The live canvas, or a resume point at or past this picture, is newer.
    if (client?.state === 'live') return
    if (at !== null && client !== null && client.canvas.epoch === at.epoch && client.canvas.seq >= at.seq) return
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
  return token !== null
}

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

/**
 * Drop what is drawn and not sent: the page's own pixels now, the library's
 * queue (its draws reject CANCELLED, or already rejected CANVAS_RESET / are
 * about to reject CLOSED); the count is said once, when those rejections
 * are in.
 */
function discardQueue (why: string): void {
  const mine = drawn
  drawn = []
  for (const p of mine) if (board.pendingColor(p.x, p.y) === p.color) board.dropPending(p.x, p.y)
  discarded(why, mine.length)
  client?.cancelQueued()
}

let discarding: { why: string, n: number } | null = null
/** Count pixels discarded for one reason; said once, after the rejections of this moment are counted. */
function discarded (why: string, n: number): void {
  if (discarding === null) {
    discarding = { why, n: 0 }
    setTimeout(() => {
      const d = discarding!
      discarding = null
      if (d.n > 0) say(`${d.why}: ${d.n} queued pixel${d.n === 1 ? ' was' : 's were'} discarded.`, 'warn')
    }, 0)
  }
  discarding.n += n
}

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

function inWords (e: { code: string, message: string }): string {
  const words = ERROR_WORDS[e.code]
  return words === undefined ? e.message : words.endsWith(':') ? `${words} ${e.message}` : words
}

/** An error no draw or request was waiting for (a failed commit's UNAVAILABLE, an unreadable frame, a failed token fetch). */
function onClientError (e: PixelwireError): void {
  // A refused in-band renewal: the 4401 at expiry brings a new connection with a fresh token.
  if (e.code === 'TOKEN' || e.code === 'AUTH_FAILED') return
  say(inWords(e), 'error')
}

/**
 * Hand pixels to the library. Its promise settles by the commit barrier:
 * confirmed (the pixels came back from the server, committed), or refused:
 * the pixels still shown as pending are dropped and said in words. None is
 * lost silently.
 */
function submit (c: PixelwireClient, pixels: Array<{ x: number, y: number, color: number }>, draw: Promise<unknown>): void {
  draw.then(() => {
    // Shown by the UPDATES already; a pending mark left is a later colour drawn over it (or a pixel painted over by someone else).
    for (const p of pixels) if (board.pendingColor(p.x, p.y) === p.color && board.colorAt(p.x, p.y) === p.color) board.dropPending(p.x, p.y)
  }, (err: Error) => {
    const lost = pixels.filter((p) => board.pendingColor(p.x, p.y) === p.color)
    for (const p of lost) board.dropPending(p.x, p.y)
    const code = err instanceof PixelwireError ? err.code : ''
    switch (code) {
      case 'CANVAS_RESET': return discarded('The canvas was reset', lost.length)
      case 'CANCELLED': return discarded('Not sent', lost.length)
      case 'CLOSED': return discarded(client === c ? 'The connection closed' : 'Signed out', lost.length)
      case 'UNAVAILABLE':
        notDrawn.push(...lost.slice(0, Math.max(0, NOT_DRAWN_KEPT - notDrawn.length)))
        if (lost.length > 0) say(`${lost.length} pixel${lost.length === 1 ? ' was' : 's were'} not drawn: the server could not save ${lost.length === 1 ? 'it' : 'them'} after ${MAX_TRIES} tries.`, 'error')
        return
      default:
        say(inWords({ code, message: err.message }), 'error')
    }
  })
}

/** Hand what was drawn since the last flush to the library (it queues while not live). */
function flush (): void {
  const c = client
  if (c === null || drawn.length === 0) return
  const pixels = drawn
  drawn = []
  submit(c, pixels, c.drawPixels(pixels))
}

/** Pixels drawn and not settled: the library's and the page's own. */
function unsettled (): number {
  return (client?.unsettledPixels ?? 0) + drawn.length
}

/** Largest rect the server would take from us, in pixels (0 before a hello). */
function maxRect (): number {
  const l = client?.hello?.limits
  if (l === undefined) return 0
  return role === 'admin' ? l.maxRectPixels : Math.min(l.maxRectPixels, l.pixelBurst)
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
  if (unsettled() + 1 > QUEUE_CAP) {
    if (!queueFullSaid) say(`${unsettled()} pixels are already waiting: this one was not drawn. Wait for them to be sent.`, 'warn')
    queueFullSaid = true
    return
  }
  drawn.push({ x, y, color })
  board.addPending(x, y, color)
}

function strokeEnd (): void {
  stroke.clear()
  queueFullSaid = false
  flush()
}

function fillRect (x: number, y: number, w: number, h: number): void {
  if (!signedIn()) return askSignIn()
  if (!canDraw()) return
  const max = maxRect()
  if (w * h > max) return say(`A rectangle may cover at most ${max} pixels; this one covers ${w * h}.`, 'warn')
  const waiting = unsettled()
  if (waiting + w * h > QUEUE_CAP && waiting > 0) return say(`${waiting} pixels are already waiting: the rectangle was not drawn.`, 'warn')
  const pixels: Array<{ x: number, y: number, color: number }> = []
  for (let j = y; j < y + h; j++) {
    for (let i = x; i < x + w; i++) {
      board.addPending(i, j, color)
      pixels.push({ x: i, y: j, color })
    }
  }
  flush() // what was drawn before goes first
  const c = client
  if (c !== null) submit(c, pixels, c.drawRect(x, y, w, h, color))
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
    board.preview = w === 0 ? null : { x, y, w, h, color, ok: w * h <= maxRect() }
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
function signIn (next: string, guest?: string, store = true): boolean {
  const claims = decodeClaims(next)
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
  if (store) remember(next, guest)
  useToken(next)
  if (dialog.open) dialog.close()
  return true
}

/**
 * Another identity (or none): a new library client for it. Guests keep
 * theirs across hours: the library renews the token before its `exp`
 * (tokenFor, in-band: nothing reconnects); an expired one reconnects with
 * a new guest token.
 */
function useToken (next: string | null): void {
  token = next
  const claims = next === null ? null : decodeClaims(next)
  setRole(claims === null ? 'viewer' : (claims.role as Role | undefined) ?? DEFAULT_ROLE, claims?.name ?? claims?.sub ?? 'anonymous')
  if (next !== null) {
    picture.stop()
    return startClient()
  }
  stopClient()
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
  if (signedIn() || client !== null) return
  if (anonymousAllowed === true) return startClient()
  // (The picture first, so having no connection never shows as a red "offline".)
  watch(anonymousAllowed === false ? NO_ANONYMOUS : `The server cannot be asked how to watch it now: this is a picture of the canvas, refreshed every ${REFRESH_MS / 1000} s.`, anonymousAllowed === false)
  setState('offline', 'Not signed in.')
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
  if (token !== null) {
    forget()
    discardQueue('Signed out')
    useToken(null)
  }
  dialog.showModal()
})

// Once per tick: send what may go, show what waits.
setInterval(function tick () {
  flush()
  const live = state === 'live'
  const cd = live ? client?.cooldown() ?? null : null
  cooldownTotal = cd === null ? 0 : Math.max(cooldownTotal, cd.waitMs)
  showCooldown(cd?.waitMs ?? null, cd?.queued ?? 0, cooldownTotal)
  showQueue(cd === null ? (client?.drawStatus().queued ?? 0) + drawn.length : 0, live)
  showBudget(signedIn() ? client?.budgetStatus() ?? null : null)
  const hv = board.hover
  if (hv !== null) showReadout(hv.x, hv.y, board.colorAt(hv.x, hv.y))
  if (live && canDraw() && cursorAt !== null && (cursorSent?.x !== cursorAt.x || cursorSent?.y !== cursorAt.y)) {
    if (client?.moveCursor(cursorAt.x, cursorAt.y) === true) cursorSent = cursorAt
  }
}, 50)
setInterval(() => board.expirePending(), 500)

// Chat, notices, the canvas's state in words.
const talk = attachTalk(canvasId, {
  client: () => client,
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
    /** the library client of the moment (null while watching the picture without a token) */
    get client () { return client },
    /** the token held now (renewed in place) */
    get token () { return token },
    /** the draws not settled, in pixels: drawStatus() plus what the page has not handed over yet */
    draws () {
      const d = client?.drawStatus() ?? { queued: 0, sent: 0, accepted: 0 }
      return { ...d, queued: d.queued + drawn.length, unsettled: unsettled() }
    },
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
