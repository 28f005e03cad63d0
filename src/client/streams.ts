// The page's streams: the canvas's chat (`chat:<canvas>`) and the admins'
// alerts (`alerts:all`, `alerts:<canvas>`). Subscribed again on every
// connection with `since` = the last offset seen, so a reconnect replays what
// was missed (or says it cannot: `recovered: false`).
import type { StreamMessage, SubscribedMessage } from '../protocol/wire.js'

/** Stream names take a canvas id only when it starts like a stream name may. */
const NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/

export interface ChatLine { name: string, text: string }

export interface StreamsHost {
  send (text: string): boolean
  chat (line: ChatLine, offset: number): void
  alert (text: string): void
  /** a reconnect could not replay everything that was said meanwhile */
  gap (stream: string): void
}

export class Streams {
  readonly chatStream: string | null
  private readonly names: string[]
  private readonly offsets = new Map<string, number>()

  constructor (canvasId: string, private readonly host: StreamsHost) {
    const ok = NAME.test(canvasId)
    this.chatStream = ok ? `chat:${canvasId}` : null
    this.names = ok ? [`chat:${canvasId}`, 'alerts:all', `alerts:${canvasId}`] : ['alerts:all']
  }

  /** A new connection is live: (re)subscribe, from where we were. */
  subscribe (): void {
    for (const stream of this.names) {
      const since = this.offsets.get(stream)
      this.host.send(JSON.stringify(since === undefined ? { type: 'subscribe', stream } : { type: 'subscribe', stream, since }))
    }
  }

  subscribed (m: SubscribedMessage): void {
    if (m.recovered === false) this.host.gap(m.stream)
    if (!this.offsets.has(m.stream) || m.recovered === false) this.offsets.set(m.stream, m.offset)
  }

  message (m: StreamMessage): void {
    const last = this.offsets.get(m.stream)
    if (last !== undefined && m.offset <= last) return // already shown (a replay overlapping what we had)
    this.offsets.set(m.stream, m.offset)
    if (m.stream.startsWith('chat:')) this.host.chat(chatLine(m.data), m.offset)
    else this.host.alert(textOf(m.data))
  }

  /** Say something on the canvas's chat; false when it cannot go now. */
  say (name: string, text: string): boolean {
    if (this.chatStream === null) return false
    return this.host.send(JSON.stringify({ type: 'publish', stream: this.chatStream, data: { name, text } }))
  }
}

/** Chat data as the page sends it, `{name, text}`; anything else shown as its JSON. */
function chatLine (data: unknown): ChatLine {
  const d = data as { name?: unknown, text?: unknown } | null
  if (d !== null && typeof d === 'object' && typeof d.text === 'string') return { name: typeof d.name === 'string' ? d.name : '?', text: d.text }
  return { name: '?', text: textOf(data) }
}

/** An alert or broadcast in words: a string, a `{text}` or `{message}`, else its JSON (cut short). */
export function textOf (data: unknown): string {
  if (typeof data === 'string') return data
  const d = data as { text?: unknown, message?: unknown } | null
  if (d !== null && typeof d === 'object') {
    if (typeof d.text === 'string') return d.text
    if (typeof d.message === 'string') return d.message
  }
  const json = JSON.stringify(data) ?? ''
  return json.length > 300 ? json.slice(0, 300) + '…' : json
}
