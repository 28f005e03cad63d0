// The page's streams: the canvas's chat (`chat:<canvas>`) and the admins'
// alerts (`alerts:all`, `alerts:<canvas>`), through the client library
// (which re-subscribes on every connection with `since` = the last offset it
// delivered, and delivers each offset once). The page keeps its own last
// offsets too, because a sign-in or sign-out starts a new library client:
// the new one subscribes from where the old one stopped, so nothing said
// meanwhile is missed or shown twice.
import type { PixelwireClient, StreamMessage } from '../client-lib/index.js'

/** Stream names take a canvas id only when it starts like a stream name may. */
const NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/

export interface ChatLine { name: string, text: string }

export interface StreamsHost {
  chat (line: ChatLine, offset: number): void
  alert (text: string): void
  /** a reconnect could not replay everything that was said meanwhile */
  gap (stream: string): void
  /** the server refused a subscription or a message (its words) */
  refused (message: string): void
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

  /** A new library client: subscribe on it, from where the page was (the library resubscribes on every reconnect). */
  attach (client: PixelwireClient): void {
    client.on('subscribed', (s) => {
      if (s.recovered === false) this.host.gap(s.stream)
      if (!this.offsets.has(s.stream) || s.recovered === false) this.offsets.set(s.stream, s.offset)
    })
    client.on('message', (m) => this.message(m))
    for (const stream of this.names) {
      const since = this.offsets.get(stream)
      client.subscribe(stream, since === undefined ? {} : { since }).catch((err: Error & { code?: string }) => {
        // CLOSED: this client was replaced or closed for good (said elsewhere).
        if (err.code !== 'CLOSED' && err.code !== 'UNSUBSCRIBED') this.host.refused(err.message)
      })
    }
  }

  private message (m: StreamMessage): void {
    const last = this.offsets.get(m.stream)
    if (last !== undefined && m.offset <= last) return // already shown (by a client this page had before)
    this.offsets.set(m.stream, m.offset)
    if (m.stream.startsWith('chat:')) this.host.chat(chatLine(m.data), m.offset)
    else this.host.alert(textOf(m.data))
  }

  /** Say something on the canvas's chat; false when it cannot go now (not live: a publish is not replayed). */
  say (client: PixelwireClient | null, name: string, text: string): boolean {
    if (this.chatStream === null || client === null || client.state !== 'live') return false
    client.publish(this.chatStream, { name, text }).catch((err: Error & { code?: string }) => {
      this.host.refused(err.code === 'UNCONFIRMED' || err.code === 'NOT_LIVE' ? 'The connection dropped: your chat message may not have been sent.' : err.message)
    })
    return true
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
