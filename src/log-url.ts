// What a log line may show of a request URL. A token may ride in the query
// (?token=, for clients that cannot set headers), and the router decodes keys
// and values before the route sees them (`?%74oken=` is `?token=`), so no
// pattern over the raw string can be trusted to find it. Instead the query is
// parsed by the very function the router uses (src/app.ts hands it to
// Fastify) and rebuilt: known-safe keys keep their values when those look like
// the ids and numbers they should be (at most MAX_SHOWN_CHARS, shorter than
// any JWT), `token` and odd values show as redacted, and every other pair is
// only counted.
import { parse } from 'fast-querystring'

/** Fastify's query parser (set as routerOptions.querystringParser), and the redactor's. */
export function parseQuery (query: string): Record<string, string | string[]> {
  return parse(query) as Record<string, string | string[]>
}

/** Query keys whose values a log line may show: ids, seqs and counts, never credentials. */
const SHOWN_KEYS = new Set(['canvas', 'since', 'epoch', 'seq', 'frames', 'user'])
export const MAX_SHOWN_CHARS = 64
const SHOWN_VALUE = new RegExp(`^[\\w.:@-]{0,${MAX_SHOWN_CHARS}}$`)

/**
 * The router ends the path at the first `?` or `#` (and `;` when configured
 * so); cutting at the first of all three shows at most what it takes as path.
 */
const QUERY_START = /[?#;]/

export function redactUrl (url: string): string {
  const cut = url.search(QUERY_START)
  if (cut < 0) return url
  const query = parseQuery(url.slice(cut + 1))
  const parts: string[] = []
  let hidden = 0
  for (const key of Object.keys(query)) {
    const value = query[key]
    for (const v of Array.isArray(value) ? value : [value]) {
      if (SHOWN_KEYS.has(key)) parts.push(`${key}=${SHOWN_VALUE.test(v) ? v : '[redacted]'}`)
      else if (key === 'token') parts.push('token=[redacted]')
      else hidden++
    }
  }
  if (hidden > 0) parts.push(`[${hidden} redacted]`)
  return url.slice(0, cut) + (parts.length > 0 ? '?' + parts.join('&') : '')
}
