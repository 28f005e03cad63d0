// The one shape of every HTTP rejection: {"error": CODE, "message": TEXT},
// plus headers such as Retry-After. Thrown from hooks and handlers; the error
// handler in plugins/errors.ts renders it.
export class HttpError extends Error {
  readonly statusCode: number
  readonly error: string
  readonly headers: Record<string, string>

  constructor (statusCode: number, error: string, message: string, headers: Record<string, string> = {}) {
    super(message)
    this.statusCode = statusCode
    this.error = error
    this.headers = headers
  }
}

const CODES: Record<number, string> = {
  400: 'BAD_REQUEST',
  401: 'UNAUTHORIZED',
  403: 'FORBIDDEN',
  404: 'NOT_FOUND',
  405: 'METHOD_NOT_ALLOWED',
  406: 'NOT_ACCEPTABLE',
  413: 'TOO_LARGE',
  415: 'UNSUPPORTED_MEDIA_TYPE',
  429: 'RATE_LIMITED',
  503: 'UNAVAILABLE'
}

/** Stable error code for a status, for errors that did not bring their own. */
export function codeForStatus (status: number): string {
  return CODES[status] ?? (status >= 500 ? 'INTERNAL' : 'BAD_REQUEST')
}
