// The error handler on a bare Fastify: every error leaves as {error, message}.
import Fastify from 'fastify'
import t from 'tap'
import errors from '../../plugins/errors.js'
import { DomainError } from '../../src/domain-error.js'
import { HttpError } from '../../src/http-error.js'

t.test('every error has the contract shape and no internals leak', async (t) => {
  const app = Fastify({ logger: false })
  await app.register(errors)
  app.get('/ours', async () => { throw new HttpError(429, 'RATE_LIMITED', 'slow down', { 'retry-after': '3' }) })
  app.get('/boom', async () => { throw new Error('secret internals') })
  app.get('/teapot', async () => { throw Object.assign(new Error('short and stout'), { statusCode: 418 }) })
  app.post('/v', { schema: { body: { type: 'object', required: ['n'], properties: { n: { type: 'integer' } } } } }, async () => 'ok')
  t.teardown(() => app.close())

  const ours = await app.inject('/ours')
  t.equal(ours.statusCode, 429)
  t.equal(ours.headers['retry-after'], '3')
  t.same(ours.json(), { error: 'RATE_LIMITED', message: 'slow down' })

  const boom = await app.inject('/boom')
  t.equal(boom.statusCode, 500)
  t.same(boom.json(), { error: 'INTERNAL', message: 'internal error' })

  const teapot = await app.inject('/teapot')
  t.same([teapot.statusCode, teapot.json()], [418, { error: 'BAD_REQUEST', message: 'short and stout' }])

  const bad = await app.inject({ method: 'POST', url: '/v', payload: { n: 'x' } })
  t.equal(bad.statusCode, 400)
  t.match(bad.json(), { error: 'BAD_REQUEST', message: /n/ })

  const json = await app.inject({ method: 'POST', url: '/v', headers: { 'content-type': 'application/json' }, payload: '{bad' })
  t.equal(json.statusCode, 400)
  t.match(json.json(), { error: 'BAD_REQUEST' })

  const missing = await app.inject('/nope?x=1')
  t.same([missing.statusCode, missing.json()], [404, { error: 'NOT_FOUND', message: 'no route GET /nope' }])
})

t.test('domain errors are mapped here, by kind, with their own code', async (t) => {
  const app = Fastify({ logger: false })
  await app.register(errors)
  const cases: Array<[DomainError, number, string | undefined]> = [
    [new DomainError('invalid', 'OUT_OF_BOUNDS', 'outside'), 400, undefined],
    [new DomainError('not_found', 'CANVAS_NOT_FOUND', 'no canvas x'), 404, undefined],
    [new DomainError('conflict', 'CANVAS_EXISTS', 'exists'), 409, undefined],
    [new DomainError('too_large', 'TOO_LARGE', 'split it'), 413, undefined],
    [new DomainError('unavailable', 'UNAVAILABLE', 'storage down', 2500), 503, '3'],
    [new DomainError('unavailable', 'UNAVAILABLE', 'busy'), 503, '1']
  ]
  cases.forEach(([err], i) => app.get(`/d${i}`, async () => { throw err }))
  t.teardown(() => app.close())
  for (const [i, [err, status, retryAfter]] of cases.entries()) {
    const res = await app.inject(`/d${i}`)
    t.same([res.statusCode, res.json(), res.headers['retry-after']], [status, { error: err.code, message: err.message }, retryAfter], `${err.kind} ${err.code}`)
  }
})
