import fp from 'fastify-plugin'
import type { FastifyError } from 'fastify'
import { DomainError } from '../src/domain-error.js'
import { HttpError, codeForStatus, httpErrorOf } from '../src/http-error.js'

/**
 * Every error leaves as {"error": CODE, "message": TEXT}: ours (HttpError),
 * the domain's (DomainError, mapped here and nowhere else), schema validation
 * (400), Fastify's own 4xx, and a generic 500 that never leaks internals.
 */
export default fp(async function errors (fastify) {
  fastify.setErrorHandler(function onError (thrown: FastifyError | HttpError | DomainError, request, reply) {
    const err = thrown instanceof DomainError ? httpErrorOf(thrown) : thrown
    if (err instanceof HttpError) {
      return reply.code(err.statusCode).headers(err.headers).send({ error: err.error, message: err.message })
    }
    if (err.validation !== undefined) {
      return reply.code(400).send({ error: 'BAD_REQUEST', message: err.message })
    }
    const status = err.statusCode !== undefined && err.statusCode >= 400 ? err.statusCode : 500
    if (status >= 500) {
      request.log.error({ err }, 'request failed')
      return reply.code(status).send({ error: codeForStatus(status), message: 'internal error' })
    }
    return reply.code(status).send({ error: codeForStatus(status), message: err.message })
  })

  fastify.setNotFoundHandler(function onNotFound (request, reply) {
    return reply.code(404).send({ error: 'NOT_FOUND', message: `no route ${request.method} ${request.url.split('?')[0]}` })
  })
}, { name: 'errors' })
