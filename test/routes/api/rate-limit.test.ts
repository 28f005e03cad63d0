// Every HTTP route is rate-limited (contract §7): found by asking Fastify
// for each route it registered, not from a list that could fall behind.
import t from 'tap'
import Fastify, { type HTTPMethods, type InjectOptions, type RouteOptions } from 'fastify'
import app, { serverOptions } from '../../../src/app.js'
import { loadConfig } from '../../../src/config.js'
import { SECRET, tempDir, build } from '../../helper.js'
import { asAdmin } from './helper.js'

const LIMIT = 2

/** A concrete URL for a route pattern: params get values that exist. */
function concrete (url: string): string {
  return url
    .replace(':id', url.startsWith('/api/admin/connections') ? '1' : 'main')
    .replace(':x', '0').replace(':y', '0')
    .replace('*', 'index.json')
}

/** Bodies that pass validation, so the limit (not a 400) is what we see. */
const BODIES: Record<string, unknown> = {
  '/api/auth/guest': { name: 'Ann' },
  '/api/admin/broadcast': { stream: 'alerts:ops', data: 1 },
  '/api/admin/canvases': { id: 'c1', width: 2, height: 2 },
  '/api/admin/canvases/:id/fill': { x: 0, y: 0, w: 1, h: 1, color: '#000000' }
}

t.test('every route answers 429 with Retry-After past its limit', async (t) => {
  const config = loadConfig({
    JWT_SECRET: SECRET,
    LOG_LEVEL: 'silent',
    DATA_DIR: tempDir(t),
    API_RATE_LIMIT: String(LIMIT),
    API_WRITE_RATE_LIMIT: String(LIMIT),
    SNAPSHOT_RATE_LIMIT: String(LIMIT),
    TIMELAPSE_RATE_LIMIT: String(LIMIT),
    GUEST_TOKEN_RATE_LIMIT: String(LIMIT),
    HANDSHAKE_RATE: String(LIMIT)
  })
  const server = Fastify(serverOptions(config))
  const routes: RouteOptions[] = []
  server.addHook('onRoute', (route) => { routes.push(route) })
  await server.register(app, { config })
  await server.ready()
  t.teardown(() => server.close())

  const seen = new Set<string>()
  for (const route of routes) {
    const methods = ([] as HTTPMethods[]).concat(route.method)
    for (const method of methods) {
      const key = `${method} ${route.url}`
      if (seen.has(key)) continue
      seen.add(key)
      const req: InjectOptions = { method, url: concrete(route.url), headers: asAdmin }
      if (BODIES[route.url] !== undefined) req.payload = BODIES[route.url] as object
      const statuses: number[] = []
      for (let i = 0; i < LIMIT; i++) statuses.push((await server.inject(req)).statusCode)
      const last = await server.inject(req)
      t.equal(last.statusCode, 429, `${key}: 429 past ${LIMIT} (got ${statuses.join(',')},${last.statusCode})`)
      t.match(last.headers['retry-after'], /^\d+$/, `${key}: Retry-After`)
      if (method !== 'HEAD') t.match(last.json(), { error: 'RATE_LIMITED', message: String }, `${key}: JSON error shape`)
      t.notOk(statuses.includes(429), `${key}: the first ${LIMIT} are not limited`)
    }
  }
  // The routes an operator relies on are among those found.
  for (const key of ['GET /health', 'GET /health/ready', 'GET /metrics', 'GET /docs/json', 'GET /api/canvases',
    'GET /api/canvases/:id/snapshot.png', 'POST /api/auth/guest', 'GET /api/admin/connections',
    'DELETE /api/admin/connections/:id', 'POST /api/admin/broadcast', 'POST /api/admin/canvases/:id/fill', 'GET /ws']) {
    t.ok(seen.has(key), `${key} was checked`)
  }
})

t.test('the default limits are per route and per IP', async (t) => {
  const { app } = await build(t, { API_RATE_LIMIT: '3' })
  for (let i = 0; i < 3; i++) t.equal((await app.inject('/api/canvases')).statusCode, 200)
  t.equal((await app.inject('/api/canvases')).statusCode, 429)
  t.equal((await app.inject('/api/canvases/main')).statusCode, 200, 'another route has its own count')
  t.equal((await app.inject({ url: '/api/canvases', remoteAddress: '10.0.0.9' })).statusCode, 200, 'another IP has its own count')
})
