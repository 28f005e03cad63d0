// What the domain says when a request cannot be done, in its own words: a
// kind (what went wrong, for the transport to map: plugins/errors.ts turns
// it into an HTTP status) and a stable code clients can act on. Nothing in
// src/ outside app.ts knows about HTTP.

// gone: it existed and is no longer kept (a timelapse seq older than the stored history).
export type DomainErrorKind = 'invalid' | 'not_found' | 'conflict' | 'gone' | 'too_large' | 'unavailable'

export class DomainError extends Error {
  readonly kind: DomainErrorKind
  /** stable, upper-case: CANVAS_NOT_FOUND, OUT_OF_BOUNDS... */
  readonly code: string
  /** when retrying may help (kind unavailable) */
  readonly retryAfterMs?: number

  constructor (kind: DomainErrorKind, code: string, message: string, retryAfterMs?: number) {
    super(message)
    this.kind = kind
    this.code = code
    if (retryAfterMs !== undefined) this.retryAfterMs = retryAfterMs
  }
}
