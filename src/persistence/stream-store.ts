// Stream history in SQLite (migrations/007-stream-history.sql): the broker's
// HistoryStore port. Each write is one IMMEDIATE transaction for a whole
// batch of messages (the broker flushes every STREAM_FLUSH_MS), never one
// per message.
import type { HistoryStore, StoredMessage } from '../broker/history-store.js'
import type { Db } from './db.js'

interface Row { offset: number, data: string | null, at: number, expires_at: number | null }

export function createStreamStore (db: Db): HistoryStore {
  const readStmt = db.prepare<[string, number], Row>(
    'SELECT offset, data, at, expires_at FROM stream_messages WHERE topic = ? AND (expires_at IS NULL OR expires_at > ?) ORDER BY offset'
  )
  const insert = db.prepare<[string, number, string | null, number, number | null]>(
    'INSERT OR REPLACE INTO stream_messages (topic, offset, data, at, expires_at) VALUES (?, ?, ?, ?, ?)'
  )
  const cut = db.prepare<[string, number]>('DELETE FROM stream_messages WHERE topic = ? AND offset <= ?')
  const expireStmt = db.prepare<[number]>('DELETE FROM stream_messages WHERE expires_at IS NOT NULL AND expires_at <= ?')

  const write = db.transaction((messages: readonly StoredMessage[], cuts: ReadonlyMap<string, number>) => {
    for (const m of messages) insert.run(m.topic, m.offset, m.json ?? null, m.at, m.expiresAt)
    for (const [topic, offset] of cuts) cut.run(topic, offset)
  })

  return {
    read (topic, now) {
      return readStmt.all(topic, now).map((r) => ({
        topic, offset: r.offset, json: r.data ?? undefined, at: r.at, expiresAt: r.expires_at
      }))
    },
    write (messages, cuts) { write.immediate(messages, cuts) },
    expire: (now) => expireStmt.run(now).changes
  }
}
