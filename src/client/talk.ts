// What people and the server say beside the pixels: the chat panel (the
// canvas's chat stream), admin alerts and broadcasts as notices, and the
// canvas's state in words (frozen, reset, deleted). Fed by the library
// client's events (attach).
import type { BroadcastMessage, CanvasMessage, PixelwireClient } from '../client-lib/index.js'
import { Streams, textOf } from './streams.js'
import { $, say } from './ui.js'

/** Chat lines kept on the page (older ones are removed). */
const CHAT_KEPT = 200

export interface TalkHost {
  /** the page's current library client (null while it has none) */
  client (): PixelwireClient | null
  /** who speaks, or null when this visitor may not (not signed in, a viewer) */
  speaker (): string | null
  /** the canvas was reset under a live connection: the queue is void */
  reset (): void
  /** whether the canvas is frozen changed */
  frozen (frozen: boolean): void
}

export function attachTalk (canvasId: string, host: TalkHost) {
  const log = $<HTMLOListElement>('chat-log')
  const panel = $<HTMLDetailsElement>('chat')
  const input = $<HTMLInputElement>('chat-input')
  const button = $('chat-form').querySelector('button')!
  const unread = $('chat-unread')
  let unseen = 0

  function line (el: HTMLLIElement): void {
    const atEnd = log.scrollTop + log.clientHeight >= log.scrollHeight - 4
    log.append(el)
    while (log.children.length > CHAT_KEPT) log.firstElementChild?.remove()
    if (atEnd) log.scrollTop = log.scrollHeight
    if (!panel.open) {
      unseen++
      unread.hidden = false
      unread.textContent = String(unseen)
    }
  }

  const streams = new Streams(canvasId, {
    chat (l) {
      const li = document.createElement('li')
      const who = document.createElement('b')
      who.textContent = l.name
      li.append(who, ': ', l.text)
      line(li)
    },
    alert (text) { say(`Notice: ${text}`, 'notice') },
    gap () {
      const li = document.createElement('li')
      li.className = 'gap'
      li.textContent = 'Some messages from while you were away could not be shown.'
      line(li)
    },
    refused (message) { say(message, 'error') }
  })

  panel.addEventListener('toggle', () => {
    if (!panel.open) return
    unseen = 0
    unread.hidden = true
    log.scrollTop = log.scrollHeight
  })
  $('chat-form').addEventListener('submit', (ev) => {
    ev.preventDefault()
    const name = host.speaker()
    const text = input.value.trim()
    if (name === null || text === '') return
    if (streams.say(host.client(), name, text)) input.value = ''
    else say('Not connected: the message was not sent.', 'warn')
  })

  function showState (words: string | null): void {
    const el = $('canvas-state')
    el.hidden = words === null
    el.textContent = words ?? ''
  }

  return {
    /** A new library client: its streams, broadcasts and canvas state messages come here. */
    attach (client: PixelwireClient): void {
      streams.attach(client)
      client.on('broadcast', (m: BroadcastMessage) => say(`Notice: ${textOf(m.data)}`, 'notice'))
      client.on('canvas', (m: CanvasMessage) => canvasChanged(m))
    },
    /** A connection is live: say who may speak. */
    live (frozen: boolean | undefined): void {
      const can = host.speaker() !== null
      input.disabled = !can
      button.disabled = !can
      input.placeholder = can ? 'Say something' : 'Sign in to chat'
      setFrozen(frozen === true)
    }
  }

  function setFrozen (frozen: boolean): void {
    showState(frozen ? 'This canvas is frozen: nobody can draw on it for now. You can still watch.' : null)
    host.frozen(frozen)
  }

  function canvasChanged (m: { frozen?: boolean, epoch?: string, deleted?: boolean }): void {
    if (m.deleted === true) {
      showState('This canvas was deleted.')
      say('This canvas was deleted by the moderators; pick another one.', 'error')
      return
    }
    if (m.epoch !== undefined) {
      host.reset()
      say('The canvas was reset by the moderators: it starts blank.', 'notice')
      return setFrozen(m.frozen === true)
    }
    if (m.frozen !== undefined) {
      setFrozen(m.frozen)
      say(m.frozen ? 'The canvas was frozen: drawing is paused.' : 'The canvas is open again: you can draw.', 'notice')
    }
  }
}
