// Liveness, readiness with each check named, and the OpenAPI description.
import t from 'tap'
import type { FastifyInstance } from 'fastify'
import { build } from '../helper.js'

/** Poll readiness until `pred` holds; under-pressure samples once a second. */
async function readyUntil (app: FastifyInstance, pred: (body: any) => boolean, ms = 8000): Promise<{ status: number, body: any }> {
  const end = Date.now() + ms
  for (;;) {
    const res = await app.inject('/health/ready')
    const out = { status: res.statusCode, body: res.json() }
    if (pred(out.body) || Date.now() > end) return out
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
}

t.test('/health is 200 while the process runs; /health/ready names every check', async (t) => {
  const { app } = await build(t)
  const live = await app.inject('/health')
  t.equal(live.statusCode, 200)
  t.same(live.json(), { status: 'ok' })
  const ready = await app.inject('/health/ready')
  t.equal(ready.statusCode, 200)
  t.same(ready.json(), { status: 'ok', checks: { database: 'ok', storage: 'ok', eventLoopDelay: 'ok', memory: 'ok', draining: 'ok' } })
})

t.test('memory over its limit fails readiness (and only readiness)', async (t) => {
  const { app } = await build(t, { MAX_HEAP_USED_BYTES: '1000' })
  const res = await readyUntil(app, (b) => b.checks.memory !== 'ok')
  t.equal(res.status, 503)
  t.match(res.body, { error: 'NOT_READY', message: 'failing: memory', checks: { memory: /^heap used \d+ bytes over 1000$/, database: 'ok' } })
  t.equal((await app.inject('/health')).statusCode, 200, 'still alive')
  t.equal((await app.inject('/api/canvases')).statusCode, 200, 'still serving')
})

t.test('RSS over its limit fails readiness', async (t) => {
  const { app } = await build(t, { MAX_RSS_BYTES: '1000' })
  const res = await readyUntil(app, (b) => b.checks.memory !== 'ok')
  t.equal(res.status, 503)
  t.match(res.body.checks.memory, /^rss \d+ bytes over 1000$/)
})

t.test('event-loop delay over its limit fails readiness, and recovers', async (t) => {
  // under-pressure reports the mean delay over each 1 s sample: keep the loop
  // blocked in 200 ms slices for 2.5 s so whole samples see ~200 ms, far over
  // the limit whatever else the machine is doing, and far under it after.
  const { app } = await build(t, { MAX_EVENT_LOOP_DELAY_MS: '100' })
  const end = Date.now() + 2500
  while (Date.now() < end) {
    const slice = Date.now() + 200
    while (Date.now() < slice);
    await new Promise((resolve) => setTimeout(resolve, 1))
  }
  const res = await app.inject('/health/ready')
  t.equal(res.statusCode, 503)
  t.match(res.json(), { message: /eventLoopDelay/, checks: { eventLoopDelay: /^event loop delay \d+ ms over 100 ms$/ } })
  const after = await readyUntil(app, (b) => b.checks.eventLoopDelay === 'ok', 10000)
  t.equal(after.status, 200, 'ready again once the loop is free')
})

t.test('a database that does not answer fails readiness', async (t) => {
  const { app } = await build(t)
  app.db.close()
  const res = await app.inject('/health/ready')
  t.equal(res.statusCode, 503)
  t.match(res.json(), { message: /database/, checks: { database: /not open|closed/i } })
  t.equal(res.headers['retry-after'], '5')
})

t.test('OpenAPI: /docs/json describes the REST API, /docs serves the viewer', async (t) => {
  const { app } = await build(t)
  const res = await app.inject('/docs/json')
  t.equal(res.statusCode, 200)
  const doc = res.json()
  t.equal(doc.openapi, '3.0.3')
  for (const path of ['/health', '/health/ready', '/api/canvases', '/api/canvases/{id}', '/api/canvases/{id}/snapshot.png',
    '/api/canvases/{id}/pixels/{x}/{y}', '/api/auth/guest', '/api/admin/connections', '/api/admin/connections/{id}',
    '/api/admin/broadcast', '/api/admin/streams', '/api/admin/canvases', '/api/admin/canvases/{id}/fill']) {
    t.ok(doc.paths[path], `${path} is described`)
  }
  t.notOk(doc.paths['/ws'], 'the WebSocket upgrade is not a REST call')
  t.same(doc.paths['/api/admin/broadcast'].post.security, [{ bearer: [] }], 'admin routes declare the bearer scheme')
  t.ok(doc.paths['/api/admin/canvases'].post.requestBody, 'bodies come from the TypeBox schemas')
  const ui = await app.inject('/docs/')
  t.equal(ui.statusCode, 200)
  t.match(ui.headers['content-type'], /text\/html/)
})
