// plugins/redis.ts against a real redis-server of the test's own: readiness
// names redis while it is gone (kill -9) and comes back by itself once
// Redis restarts on its AOF; a command while Redis is down fails at once
// (no offline queue); the redis metrics say so and promtool accepts them.
import t from 'tap'
import Fastify from 'fastify'
import app, { serverOptions } from '../../src/app.js'
import { loadConfig } from '../../src/config.js'
import { retryDelay } from '../../src/broker/redis-link.js'
import { SECRET, tempDir } from '../helper.js'
import { promtoolCheck, samples } from '../promtool.js'
import { startRedis, until } from './redis.js'

// Real processes (and, for the first cluster test file, compiling the
// server) on a loaded machine: more than the 120 s per file of package.json.
t.setTimeout(360000)

t.test('the backoff doubles from 50 ms and stops at the cap', async (t) => {
  t.same([1, 2, 3, 4, 5, 6].map((a) => retryDelay(a, 1000)), [50, 100, 200, 400, 800, 1000])
  t.equal(retryDelay(10000, 2000), 2000, 'no overflow for a long outage')
})

t.test('readiness and metrics follow Redis going away and coming back', async (t) => {
  const redis = await startRedis(t)
  const dataDir = tempDir(t)
  const config = loadConfig({ JWT_SECRET: SECRET, LOG_LEVEL: 'silent', DATA_DIR: dataDir, REDIS_URL: redis.url, REDIS_HEALTH_MS: '100', REDIS_COMMAND_TIMEOUT_MS: '500', REDIS_RETRY_MAX_MS: '200', NODE_ID: 'node-a' })
  const server = Fastify(serverOptions(config))
  await server.register(app, { config })
  await server.ready()
  t.teardown(() => server.close())
  const link = server.redis!
  t.ok(link, 'cluster mode has its Redis connections')

  const ready = async () => {
    const res = await server.inject('/health/ready')
    return { status: res.statusCode, body: res.json() }
  }
  await until(async () => (await ready()).status === 200, 20000, 'ready with redis')
  t.same((await ready()).body.checks.redis, 'ok', 'redis is a named check')
  t.equal(await link.command.set('pixelwire-test', 'x'), 'OK', 'the command connection works')

  await redis.kill9()
  await until(async () => (await ready()).status === 503, 20000, 'readiness fails without redis')
  const down = await ready()
  t.match(down.body, { error: 'NOT_READY', message: /^failing: .*redis/, checks: { redis: /^redis |^ping failed/, database: 'ok' } })
  await t.rejects(link.command.get('pixelwire-test'), 'a command while Redis is down fails at once, never queued')
  const scrapeDown = samples((await server.inject('/metrics')).body)
  t.equal(scrapeDown.get('pixelwire_redis_up'), 0, 'redis up is 0')
  // Pings go on every REDIS_HEALTH_MS while Redis is down, and each fails at
  // once (no offline queue): wait for one to be counted before the restart,
  // which may otherwise come back within one ping interval.
  await until(async () => (samples((await server.inject('/metrics')).body).get('pixelwire_redis_ping_failures_total') ?? 0) >= 1, 20000, 'a failed ping counted while Redis is down')

  await redis.restart()
  await until(async () => (await ready()).status === 200, 30000, 'ready again after the restart')
  t.equal(await link.command.get('pixelwire-test'), 'x', 'the restarted Redis has its AOF')
  const text = (await server.inject('/metrics')).body
  const up = samples(text)
  t.equal(up.get('pixelwire_redis_up'), 1)
  t.ok((up.get('pixelwire_redis_reconnects_total') ?? 0) >= 2, 'both connections counted their reconnect')
  t.ok((up.get('pixelwire_redis_ping_failures_total') ?? 0) >= 1, 'failed pings counted')
  const checked = await promtoolCheck(text)
  t.equal(checked.code, 0, `promtool: ${checked.output}`)
})

t.test('a node alone has no redis check and no redis connections', async (t) => {
  const config = loadConfig({ JWT_SECRET: SECRET, LOG_LEVEL: 'silent', DATA_DIR: tempDir(t) })
  const server = Fastify(serverOptions(config))
  await server.register(app, { config })
  await server.ready()
  t.teardown(() => server.close())
  t.equal(server.redis, null)
  t.notOk('redis' in (await server.inject('/health/ready')).json().checks)
  t.notOk((await server.inject('/metrics')).body.includes('pixelwire_redis_'), 'no redis metrics')
})
