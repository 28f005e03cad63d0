-- Stream history that outlives a restart (issue 13 point 7). The broker keeps
-- each stream's recent messages in memory and writes them here in batches
-- (one transaction per STREAM_FLUSH_MS, never one per message); a stream's
-- history is read back from here the first time it is used after a boot.
--
-- offset: the broker's offset (only grows per topic, also across restarts).
-- data:   the message's `data` as JSON text exactly as sent (NULL: no data).
-- at:     ms since the epoch when it was published.
-- expires_at: ms since the epoch after which it is dropped (the namespace's
--         age bound at publish time); NULL: kept until the count bound drops it.
CREATE TABLE stream_messages (
  topic       TEXT NOT NULL,
  offset      INTEGER NOT NULL,
  data        TEXT,
  at          INTEGER NOT NULL,
  expires_at  INTEGER,
  PRIMARY KEY (topic, offset)
) STRICT, WITHOUT ROWID;

-- The age sweep deletes by expiry across every topic.
CREATE INDEX stream_messages_expiry ON stream_messages (expires_at) WHERE expires_at IS NOT NULL;
