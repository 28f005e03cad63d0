// The port through which a broker keeps stream history durable. The memory
// broker (memory.ts) holds each stream's recent messages and writes them
// through this port in batches; its SQLite side is
// src/persistence/stream-store.ts. A Redis broker (issue 12) keeps history in
// Redis Streams instead and needs no such port.
import type { Topic } from './broker.js'

/** One stream message as stored. */
export interface StoredMessage {
  topic: Topic
  offset: number
  /** the message's data as JSON text (undefined: the message had no data) */
  json: string | undefined
  /** published at, ms since the epoch */
  at: number
  /** dropped after this (ms since the epoch); null: only the count bound drops it */
  expiresAt: number | null
}

export interface HistoryStore {
  /** The topic's messages not expired at `now`, oldest first. */
  read (topic: Topic, now: number): StoredMessage[]
  /**
   * One transaction: append `messages`, then delete every message of each
   * topic in `cuts` at or below its offset (what the count bound dropped).
   * Throws when it cannot be stored: then nothing was.
   */
  write (messages: readonly StoredMessage[], cuts: ReadonlyMap<Topic, number>): void
  /** Delete every message expired at `now`; how many went. */
  expire (now: number): number
}
