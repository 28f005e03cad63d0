// The node's one local fan-out: every publication the broker hands back
// comes through dispatch(), which passes it to the one handler of its event
// type. Each handler builds ONE shared frame (text or binary) and has the
// hub deliver it (hub.deliver is the only loop over subscribers), except a
// commit, which the canvas service applies to its room (its frames go out
// on the tick's beat: one UPDATES frame per canvas per tick).
//
// Handlers are registered by the modules that own the event types: the
// canvas service (commit), presence (presence, cursors), streams (message).
// Broadcasts have no owner: they are handled here; disconnects (bans) by
// onDisconnectOf, here too, registered where the hub's connections can close.
import type { BrokerEvent, EventOf, EventType, Publication, PublicationHandler, Topic } from '../broker/broker.js'
import type { Broker } from '../broker/broker.js'
import { SharedFrame } from '../connection/connection.js'
import { createHub, type Hub, type Sender, type Subscriber } from './hub.js'
import type { DisconnectReason } from '../connection/disconnect.js'

/** What a frame can be written to: a connection, or a test's fake. */
export interface Receiver extends Subscriber {
  /** `must`: a message that cannot be skipped (stream, broadcast), allowed more headroom */
  send (data: Buffer | string, must?: boolean): boolean
  /** send(frame.data, must), written pre-framed where the receiver can (optional) */
  sendShared? (frame: SharedFrame, must?: boolean): boolean
}

/** A shared frame to one receiver, pre-framed where it can take it so. */
export function sendFrame (r: Receiver, frame: SharedFrame, must = false): boolean {
  return r.sendShared !== undefined ? r.sendShared(frame, must) : r.send(frame.data, must)
}

/** What a disconnect event can close: a connection (Connection.close). */
export interface Closable extends Subscriber {
  close (d: DisconnectReason): boolean
}

/** Every subscriber is closed with the event's code and reason; counted when a close started. */
const toClose: Sender<Closable, DisconnectReason> = { sendTo: (r, d) => r.close(d) }

/**
 * The handler of `disconnect` events (a ban): close the user's connections
 * on this node; every node gets the event. Registered by the node's
 * composition (plugins/moderation.ts) on a hub of closable connections.
 */
export function onDisconnectOf<S extends Closable> (hub: Pick<Hub<S>, 'deliver'>): EventHandler<'disconnect'> {
  return function onDisconnect (topic, pub) {
    const { code, reason } = pub.event
    return hub.deliver(topic, { code, reason }, toClose)
  }
}

/** Every subscriber gets the frame unless its send buffer is full (cursors). */
export const toEveryone: Sender<Receiver, SharedFrame> = { sendTo: (r, frame) => sendFrame(r, frame) }
/** Every subscriber gets the frame, with the headroom of a message that cannot be skipped (broadcasts). */
export const toEveryoneMust: Sender<Receiver, SharedFrame> = { sendTo: (r, frame) => sendFrame(r, frame, true) }

export type EventHandler<K extends EventType> = (topic: Topic, pub: Publication<EventOf<K>>) => number
type Handlers = { [K in EventType]?: EventHandler<K> }

export function createFanout<S extends Receiver> (hub: Hub<S>) {
  const handlers: Handlers = { broadcast: onBroadcast }

  function onBroadcast (topic: Topic, pub: Publication<EventOf<'broadcast'>>): number {
    const { canvas, user, data } = pub.event
    const text = JSON.stringify(canvas !== undefined ? { type: 'broadcast', canvas, data } : { type: 'broadcast', user, data })
    return hub.deliver(topic, new SharedFrame(text), toEveryoneMust)
  }

  return {
    /** Register the one handler of an event type. */
    on<K extends EventType> (type: K, handler: EventHandler<K>): void {
      if (handlers[type] !== undefined) throw new Error(`the fan-out already has a ${type} handler`)
      ;(handlers as Record<K, EventHandler<K>>)[type] = handler
    },
    /** The broker's handler (PublicationHandler): one event, to its handler. */
    dispatch (topic: Topic, pub: Publication<BrokerEvent>): number {
      const handler = handlers[pub.event.type] as EventHandler<EventType> | undefined
      if (handler === undefined) throw new Error(`no handler for ${pub.event.type} events`)
      return handler(topic, pub as Publication<never>)
    }
  }
}

export type Fanout = ReturnType<typeof createFanout>

/** What a domain module needs to publish and deliver: the broker, the hub and the fan-out, wired together. */
export interface Pipeline<S extends Receiver> {
  broker: Broker
  hub: Hub<S>
  fanout: Fanout
}

/** Wire a node: the hub subscribes topics at the broker, the broker hands publications to the fan-out. */
export function createPipeline<S extends Receiver> (broker: Broker): Pipeline<S> {
  const hub = createHub<S>(broker)
  const fanout = createFanout(hub)
  const dispatch: PublicationHandler = fanout.dispatch
  broker.start(dispatch)
  return { broker, hub, fanout }
}
