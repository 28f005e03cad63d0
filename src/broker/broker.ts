// The seam between this node and any other: every outgoing event is a value
// (a plain object that could be serialized and sent to another process),
// published to a Broker on a topic. The broker hands each publication back,
// in publish order per topic, to this node's one local fan-out
// (src/hub/fanout.ts), which builds one frame and lets the hub deliver it.
//
// Single-node mode uses the in-memory broker (memory.ts): publish calls the
// fan-out synchronously, so every test runs through this seam. A Redis broker
// (issue 12) implements the same interface; see docs/architecture.md.
//
// Topics, the broker's addresses (prefixes keep them apart: a stream
// namespace named `user` or `canvas` cannot collide with them):
// - `canvas:<id>`  committed batches, presence, cursors, canvas broadcasts, locks
// - `user:<sub>`   broadcasts to every connection of one user, disconnects (bans)
// - `stream:<ns:name>` JSON stream messages (the only topics with history)
// - `connection:<id>` one connection (kicks: a disconnect event)
// - `settings`     live settings changed by an admin (every node subscribes)

export type Topic = string

export const canvasTopic = (id: string): Topic => `canvas:${id}`
export const userTopic = (sub: string): Topic => `user:${sub}`
export const connectionTopic = (id: number): Topic => `connection:${id}`
const STREAM = 'stream:'
export const streamTopic = (name: string): Topic => STREAM + name
export const SETTINGS_TOPIC: Topic = 'settings'
export const isStreamTopic = (topic: Topic): boolean => topic.startsWith(STREAM)
/** The stream name of a stream topic. */
export const streamOf = (topic: Topic): string => topic.slice(STREAM.length)

/**
 * A batch committed to a canvas's log: the changes (from, to], i.e. seqs
 * from + 1 .. to, `to - from` packed 7-byte records in seq order. The log
 * assigned the seqs; nothing else does.
 */
export interface CommitEvent {
  type: 'commit'
  canvas: string
  epoch: string
  from: number
  to: number
  pixels: Buffer
}

/** A stream message; `json` is its data serialized once (undefined: no data). */
export interface MessageEvent { type: 'message', stream: string, json: string | undefined }

/** An operator's message to a canvas's clients or a user's connections. */
export interface BroadcastEvent { type: 'broadcast', canvas?: string, user?: string, data: unknown }

export interface PresenceEntry { connectionId: number, name: string }

/** Who came and went on a canvas since the last presence flush; `count` is everyone there now. */
export interface PresenceEvent { type: 'presence', canvas: string, joined: PresenceEntry[], left: number[], count: number }

export interface CursorEntry { connectionId: number, x: number, y: number }

/** The last cursor position of each connection that moved since the last tick. */
export interface CursorsEvent { type: 'cursors', canvas: string, cursors: CursorEntry[] }

/**
 * Close the connections of the topic (`connection:<id>`: a kick; `user:<sub>`:
 * every connection of a user, a ban) with this code and reason, on whatever
 * node they are. The one disconnect event: kicks and bans alike.
 */
export interface DisconnectEvent { type: 'disconnect', code: number, reason: string }

/** A locked rectangle of a canvas (src/moderation/locks.ts). */
export interface LockEntry {
  id: number
  canvas: string
  x: number
  y: number
  w: number
  h: number
  reason: string | null
  by: string
  /** ms since the epoch */
  at: number
}

/** A canvas's region locks, all of them, after a change: every node replaces its copy. */
export interface LocksEvent {
  type: 'locks'
  canvas: string
  locks: LockEntry[]
  /** cluster mode: the version of this change in Redis (a node ignores an older one than it holds) */
  version?: number
}

/**
 * An admin changed a canvas's state, already stored (canvas-store): each
 * node applies it to its room and tells the canvas's clients. One of:
 * `frozen`; `palette` (0xRRGGBB colours, null: any colour); `reset` (a
 * blank canvas under `epoch`, numbered on from `seq`); `deleted`.
 */
export interface CanvasStateEvent {
  type: 'canvas-state'
  canvas: string
  frozen?: boolean
  palette?: number[] | null
  reset?: { epoch: string, seq: number }
  deleted?: true
}

/** Live settings changed by an admin, already stored: every node applies `settings` (the whole set, effective values). */
export interface SettingsEvent {
  type: 'settings'
  settings: Record<string, number | null>
  /** cluster mode: the stored values (Redis) and their version; each node computes its effective set from them */
  stored?: Record<string, unknown>
  version?: number
}

export type BrokerEvent = CommitEvent | MessageEvent | BroadcastEvent | PresenceEvent | CursorsEvent | DisconnectEvent | LocksEvent | CanvasStateEvent | SettingsEvent
export type EventType = BrokerEvent['type']
export type EventOf<K extends EventType> = Extract<BrokerEvent, { type: K }>

/** An event as the broker hands it back; `offset` > 0 only on topics that keep history. */
export interface Publication<E extends BrokerEvent = BrokerEvent> {
  readonly offset: number
  readonly event: E
}

/**
 * The node's one handler for publications; returns how many local
 * connections were sent the event (for `delivered` answers).
 */
export type PublicationHandler = (topic: Topic, pub: Publication) => number

export interface PublishOptions {
  /** keep this many publications of the topic for `history` (and number them) */
  history?: number
  /** with `history`: drop held publications this old (ms); 0 or unset: only the count bounds them */
  historyMaxAgeMs?: number
}

export interface DeliverOptions extends PublishOptions {
  /** count the deliveries on every node (a `delivered` answer); without it a stream message resolves with delivered 0 as soon as it is ordered */
  count?: boolean
}

/** `delivered`: connections sent it (in-memory: this node's, counted before publish returns). */
export interface Published { offset: number, delivered: number }

export interface History {
  /** the topic's last offset */
  offset: number
  /** false when some publication after `since` is no longer held (or `since` is not an offset of this topic) */
  recovered: boolean
  /** every held publication after `since`, oldest first (empty unless recovered) */
  publications: Publication[]
}

/** What the roster shows of a connection; read when a roster is built. */
export interface PresenceInfo { readonly user: { readonly name: string } }

export interface PresenceStore {
  add (topic: Topic, clientId: number, info: PresenceInfo): void
  remove (topic: Topic, clientId: number): void
  /** who is on the topic, in join order */
  get (topic: Topic): ReadonlyMap<number, PresenceInfo>
  count (topic: Topic): number
}

/** Who drew a run of a batch's records (the canvas store's Authorship). */
export interface AuthorRun { user: string, count: number, name?: string }

/**
 * The canvas order when it lives outside this node (cluster mode: Redis,
 * src/broker/redis-order.ts). A batch is appended to the cluster's order;
 * every node, this one included, gets it back as a commit publication (in
 * order, after storing it in its own log). The single-node broker has none:
 * there the log commits and the service publishes, synchronously.
 */
export interface Sequencer {
  /** Append a batch after the canvas's last seq; resolves with its seqs once the order holds it durably, rejects when it does not. */
  append (canvas: string, epoch: string, records: Buffer, authors: readonly AuthorRun[]): Promise<{ from: number, to: number }>
  /** 'ok', or why appends are refused now (for readiness) */
  health (): 'ok' | string
  /** A canvas this node just created joins the order (its first append waits for it). */
  register (canvas: { id: string, epoch: string, width: number, height: number, seq: number }): void
  /**
   * A new canvas in the cluster: stored in Redis, then in this node's
   * SQLite (the row) and followed; false when the cluster has the id
   * already. Other nodes take it from the order's catalog.
   */
  create (row: { id: string, epoch: string, width: number, height: number, seq: number, createdAt: number, frozen: boolean, palette: number[] | null }): Promise<boolean>
  /** Lifecycle changes as entries of the canvas's order: each resolves once this node applied it. */
  setState (canvas: string, change: { frozen?: boolean, palette?: number[] | null }): Promise<void>
  reset (canvas: string, epoch: string, blank: Buffer): Promise<{ seq: number }>
  remove (canvas: string): Promise<void>
  /** Append only while the canvas is at seq `expect` (a revert planned against it): MOVED otherwise. */
  appendAt (canvas: string, epoch: string, records: Buffer, authors: readonly AuthorRun[], expect: number): Promise<{ from: number, to: number }>
}

export interface Broker {
  /** Present when the canvas order lives outside this node (cluster mode); absent, commits are local. */
  readonly sequencer?: Sequencer
  /** Set the node's one handler, once, before anything is published. */
  start (handler: PublicationHandler): void
  /**
   * This node wants the topic's publications (counted: a topic stays
   * subscribed until every subscribe has its unsubscribe). The hub calls it
   * for a topic's first local subscriber; the canvas service for every
   * canvas it holds, clients or not.
   */
  subscribe (topic: Topic): void
  unsubscribe (topic: Topic): void
  /**
   * Publish an event nobody needs an answer about (presence, cursors,
   * commits): this node's handler gets it back before this returns; other
   * nodes get it soon after (cluster mode, at most once). Not for topics
   * with history in cluster mode (their order is Redis's: use deliver).
   */
  publish (topic: Topic, event: BrokerEvent, opts?: PublishOptions): Published
  /**
   * Publish where an answer waits on it (stream messages, broadcasts,
   * disconnects): in-memory, exactly publish (synchronous); cluster mode, a
   * promise of the offset Redis gave it and, with `count`, the deliveries
   * summed over every node that answered in time.
   */
  deliver (topic: Topic, event: BrokerEvent, opts?: DeliverOptions): Published | Promise<Published>
  /**
   * Make history(topic) answer for a topic with history: in-memory nothing
   * to do (undefined); cluster mode, a promise resolved once this node holds
   * the topic's recent history and follows it. A subscriber calls history()
   * and subscribes in one turn after it, so its replay joins its live
   * messages exactly.
   */
  prepare (topic: Topic, history: number, historyMaxAgeMs?: number): void | Promise<void>
  /** The topic's history after `since` (touching it: a topic with history is created at its first use). */
  history (topic: Topic, since?: number): History
  /** The topic's last `n` held publications (fewer when fewer are held), oldest first; `recovered` is always true. */
  last (topic: Topic, n: number): History
  /** Every topic with history held: its last offset and how many publications are held. */
  histories (): Iterable<{ topic: Topic, offset: number, held: number }>
  readonly presence: PresenceStore
}
