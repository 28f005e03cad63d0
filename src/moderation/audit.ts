// The audit log: one entry per admin write (who, when, what, result),
// recorded once by the admin API's onResponse hook, so every admin route,
// present or future, is covered without doing anything. Kept behind
// AuditStore (SQLite here), bounded by count and age.

export interface AuditEntry {
  id: number
  /** ms since the epoch */
  at: number
  /** the admin's sub */
  admin: string
  method: string
  /** the route pattern, e.g. /api/admin/bans/:user */
  route: string
  /** the path as requested, without the query */
  url: string
  params: Record<string, unknown>
  /** a bounded summary of the body: its JSON, cut at AUDIT_BODY_BYTES; null without a body */
  body: string | null
  status: number
}

export interface AuditStore {
  /** Append an entry, dropping entries beyond `maxEntries` or older than `minAt`. */
  append (entry: Omit<AuditEntry, 'id'>, maxEntries: number, minAt: number): void
  /** Up to `limit` entries with id < `before` (all when undefined), newest first. */
  page (limit: number, before?: number): AuditEntry[]
}

export interface AuditOptions {
  store: AuditStore
  maxEntries: number
  maxAgeMs: number
  bodyBytes: number
  now?: () => number
}

export interface AuditRecord {
  admin: string
  method: string
  route: string
  url: string
  params: unknown
  body: unknown
  status: number
}

/** JSON of `value`, cut to at most `max` bytes of UTF-8 (a cut one ends with …). */
export function summarize (value: unknown, max: number): string | null {
  if (value === undefined || value === null) return null
  let json: string
  try {
    json = JSON.stringify(value) ?? String(value)
  } catch {
    json = String(value)
  }
  const bytes = Buffer.from(json)
  if (bytes.length <= max) return json
  // toString drops a code point cut in half (it becomes U+FFFD): strip that too.
  return bytes.subarray(0, Math.max(0, max - 3)).toString('utf8').replace(/\uFFFD$/, '') + '…'
}

export function createAudit ({ store, maxEntries, maxAgeMs, bodyBytes, now = Date.now }: AuditOptions) {
  return {
    record (r: AuditRecord): void {
      const at = now()
      const params = (typeof r.params === 'object' && r.params !== null ? r.params : {}) as Record<string, unknown>
      store.append({ at, admin: r.admin, method: r.method, route: r.route, url: r.url, params, body: summarize(r.body, bodyBytes), status: r.status }, maxEntries, at - maxAgeMs)
    },
    page: (limit: number, before?: number): AuditEntry[] => store.page(limit, before)
  }
}

export type Audit = ReturnType<typeof createAudit>

/** The JSON view of an entry (REST). */
export function auditView (e: AuditEntry) {
  return { ...e, at: new Date(e.at).toISOString() }
}
