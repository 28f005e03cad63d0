// The pixel budget plugin on a bare Fastify: one budget per app, shared by a
// user's connections, configured from PIXEL_RATE / PIXEL_BURST; its sweep
// timer goes away with the app.
import Fastify, { type FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import t from 'tap'
import configPlugin from '../../plugins/config.js'
import pixelBudget from '../../plugins/pixel-budget.js'
import { loadConfig } from '../../src/config.js'
import { SECRET, tempDir } from '../helper.js'

// What plugins/redis.ts and plugins/broker.ts decorate on a node alone (no
// REDIS_URL): no Redis link, no cluster. The budget plugin reads only these
// two of them, and this test is about its single-node budget and timer.
const singleNode = fp(async (app: FastifyInstance) => {
  app.decorate('redis', null)
  app.decorate('cluster', null)
}, { name: 'broker', dependencies: ['config'] })

const timers = () => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length

t.test('decorates the app with the configured budget and releases its timer on close', async (t) => {
  const config = loadConfig({ DATA_DIR: tempDir(t), JWT_SECRET: SECRET, PIXEL_RATE: '1', PIXEL_BURST: '10' })
  const before = timers()
  const app = Fastify({ logger: false })
  await app.register(configPlugin, { config })
  await app.register(singleNode)
  await app.register(pixelBudget)
  await app.ready()
  t.equal(timers(), before + 1, 'one sweep timer')
  const alice = { user: 'alice', ip: '10.0.0.1' }
  t.same(app.pixelBudget.take(alice, 11), { ok: false, burst: 10 }, 'more than the burst is too large')
  t.same(app.pixelBudget.take(alice, 10), { ok: true })
  t.match(app.pixelBudget.take(alice, 1), { ok: false, retryAfterMs: Number }, 'the bucket is per user...')
  t.same(app.pixelBudget.take({ user: 'bob', ip: '10.0.0.1' }, 1), { ok: true }, '...and each user has their own')
  t.match(app.pixelBudget.state(alice), { pixelRate: 1, pixelBurst: 10, pixelsAvailable: 0 })
  await app.close()
  t.equal(timers(), before, 'the timer is gone after close')
})

t.test('the guest per-IP budget: configured, or the user budget when unset', async (t) => {
  for (const [env, want] of [[{}, { pixelRate: 1, pixelBurst: 10 }], [{ GUEST_PIXEL_RATE_PER_IP: '0.5', GUEST_PIXEL_BURST_PER_IP: '4' }, { pixelRate: 0.5, pixelBurst: 4 }]] as const) {
    const config = loadConfig({ DATA_DIR: tempDir(t), JWT_SECRET: SECRET, PIXEL_RATE: '1', PIXEL_BURST: '10', ...env })
    const app = Fastify({ logger: false })
    await app.register(configPlugin, { config })
    await app.register(singleNode)
    await app.register(pixelBudget)
    await app.ready()
    t.match(app.pixelBudget.state({ user: 'guest:x', ip: '10.0.0.1' }), want, JSON.stringify(env))
    await app.close()
  }
})

t.test('needs the config plugin', async (t) => {
  const app = Fastify({ logger: false })
  t.teardown(() => app.close())
  await t.rejects(async () => { await app.register(pixelBudget) }, /dependency 'config' of plugin 'pixel-budget'/)
})
