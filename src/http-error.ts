// The one shape of every HTTP rejection: {"error": CODE, "message": TEXT},
// plus headers such as Retry-After. Thrown from hooks and handlers; the error
// handler in plugins/errors.ts renders it, and maps the domain's own errors
// to it (httpErrorOf).
import { STATUS_CODES } from 'node:http'
import { DomainError, type DomainErrorKind } from './domain-error.js'

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
  410: 'GONE',
  413: 'TOO_LARGE',
  415: 'UNSUPPORTED_MEDIA_TYPE',
  429: 'RATE_LIMITED',
  503: 'UNAVAILABLE'
}

/** Stable error code for a status, for errors that did not bring their own. */
export function codeForStatus (status: number): string {
  return CODES[status] ?? (status >= 500 ? 'INTERNAL' : 'BAD_REQUEST')
}

/** What Node's HTTP parser refuses before any route runs, by its error code. */
const CLIENT_ERRORS: Record<string, [number, string, string]> = {
  ERR_HTTP_REQUEST_TIMEOUT: [408, 'TIMEOUT', 'the request was not received in time'],
  HPE_HEADER_OVERFLOW: [431, 'HEADERS_TOO_LARGE', 'the request headers are too large']
}

/**
 * The whole HTTP/1.1 response, in the one error shape, for a request the
 * parser refused (headers too slow, too large, malformed); the connection
 * is closed after it.
 */
export function clientErrorResponse (code: string | undefined): string {
  const [status, error, message] = CLIENT_ERRORS[code ?? ''] ?? [400, 'BAD_REQUEST', 'malformed HTTP request']
  const body = JSON.stringify({ error, message })
  return `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nConnection: close\r\nContent-Type: application/json; charset=utf-8\r\n` +
    `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`
}

const STATUS: Record<DomainErrorKind, number> = { invalid: 400, not_found: 404, conflict: 409, gone: 410, too_large: 413, unavailable: 503 }

/** The HTTP answer to a domain error: its kind's status, its code, Retry-After when it has one. */
export function httpErrorOf (err: DomainError): HttpError {
  const headers: Record<string, string> = err.kind === 'unavailable'
    ? { 'retry-after': String(Math.max(1, Math.ceil((err.retryAfterMs ?? 1000) / 1000))) }
    : {}
  return new HttpError(STATUS[err.kind], err.code, err.message, headers)
}

/** The error code an answer to `err` carries (for counting refusals). */
export function errorCodeOf (err: unknown, status: number): string {
  if (err instanceof HttpError) return err.error
  if (err instanceof DomainError) return err.code
  return codeForStatus(status)
}
