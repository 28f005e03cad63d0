import { readFileSync, statSync, writeFileSync, mkdirSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { loadConfig } from '../../src/config.js'
import { tempDir } from '../helper.js'

t.test('defaults, coercion and derived values', async (t) => {
  const dir = tempDir(t)
  const c = loadConfig({ DATA_DIR: dir, JWT_SECRET: 'x'.repeat(32), TICK_MS: '20', ALLOWED_ORIGINS: ' https://a.example ,,https://b.example ' })
  t.equal(c.PORT, 3000)
  t.equal(c.HOST, '0.0.0.0')
  t.equal(c.TICK_MS, 20)
  t.equal(c.SEND_BUFFER_BYTES, 1048576)
  t.equal(c.ANONYMOUS, 'off')
  t.same(c.allowedOrigins, ['https://a.example', 'https://b.example'])
  t.equal(c.secretGenerated, false)
})

t.test('every bad value is named', async (t) => {
  t.throws(() => loadConfig({ TICK_MS: 'abc', PORT: '70000', JWT_SECRET: 'short' }), /invalid configuration: .*PORT.*TICK_MS|invalid configuration: .*TICK_MS/)
  t.throws(() => loadConfig({ ANONYMOUS: 'maybe', JWT_SECRET: 'x'.repeat(32) }), /ANONYMOUS/)
  t.throws(() => loadConfig({ LOG_LEVEL: 'loud', JWT_SECRET: 'x'.repeat(32) }), /LOG_LEVEL/)
})

t.test('PIXEL_RATE: any positive number, fractional for a cooldown; never 0, negative or NaN', async (t) => {
  const base = { DATA_DIR: tempDir(t), JWT_SECRET: 'x'.repeat(32) }
  t.equal(loadConfig({ ...base, PIXEL_RATE: '0.0033' }).PIXEL_RATE, 0.0033)
  t.equal(loadConfig(base).PIXEL_RATE, 200)
  for (const bad of ['0', '-1', '-0.5', 'NaN', 'abc', '']) {
    t.throws(() => loadConfig({ ...base, PIXEL_RATE: bad }), /invalid configuration: .*PIXEL_RATE/, `PIXEL_RATE=${JSON.stringify(bad)}`)
  }
  const c = loadConfig({ ...base, GUEST_PIXEL_RATE_PER_IP: '0.01', GUEST_PIXEL_BURST_PER_IP: '3' })
  t.equal(c.GUEST_PIXEL_RATE_PER_IP, 0.01)
  t.equal(c.GUEST_PIXEL_BURST_PER_IP, 3)
  t.equal(loadConfig(base).GUEST_PIXEL_RATE_PER_IP, undefined, 'unset: the user budget applies (plugins/pixel-budget.ts)')
  t.throws(() => loadConfig({ ...base, GUEST_PIXEL_RATE_PER_IP: '0' }), /GUEST_PIXEL_RATE_PER_IP/)
  t.throws(() => loadConfig({ ...base, GUEST_PIXEL_BURST_PER_IP: '0.5' }), /GUEST_PIXEL_BURST_PER_IP/)
})

t.test('without JWT_SECRET a dev secret is generated once into DATA_DIR, mode 0600', async (t) => {
  const dir = join(tempDir(t), 'nested')
  const first = loadConfig({ DATA_DIR: dir })
  t.equal(first.secretGenerated, true)
  t.match(first.JWT_SECRET, /^[0-9a-f]{64}$/)
  t.equal(statSync(join(dir, 'jwt-secret')).mode & 0o777, 0o600)
  t.equal(loadConfig({ DATA_DIR: dir }).JWT_SECRET, first.JWT_SECRET, 'reused')
  writeFileSync(join(dir, 'jwt-secret'), 'too-short\n')
  const again = loadConfig({ DATA_DIR: dir })
  t.not(again.JWT_SECRET, first.JWT_SECRET, 'a damaged file is replaced')
  t.equal(readFileSync(join(dir, 'jwt-secret'), 'utf8').trim(), again.JWT_SECRET)
})

t.test('an unreadable secret path is an error, not a silent new secret', async (t) => {
  const dir = tempDir(t)
  mkdirSync(join(dir, 'jwt-secret'))
  t.throws(() => loadConfig({ DATA_DIR: dir }), /EISDIR/)
})

t.test('TRUST_PROXY: addresses, CIDRs and proxy-addr names; anything else is named', async (t) => {
  const base = { DATA_DIR: tempDir(t), JWT_SECRET: 'x'.repeat(32) }
  t.same(loadConfig(base).trustProxy, [], 'nothing trusted by default')
  t.same(loadConfig({ ...base, TRUST_PROXY: ' 127.0.0.1, 10.0.0.0/8,,::1, fd00::/8 ,loopback' }).trustProxy,
    ['127.0.0.1', '10.0.0.0/8', '::1', 'fd00::/8', 'loopback'])
  for (const bad of ['10.0.0.0/33', '::/129', 'proxy.example', '10.0.0.1/8/8', '10.0.0/8', '*', 'true']) {
    t.throws(() => loadConfig({ ...base, TRUST_PROXY: bad }), new RegExp(`^invalid configuration: TRUST_PROXY entry "${bad.replace(/[*/.]/g, '\\$&')}"`), `${bad}: refused`)
  }
})

t.test('HTTP timeouts: defaults, and the headers fit in the request', async (t) => {
  const base = { DATA_DIR: tempDir(t), JWT_SECRET: 'x'.repeat(32) }
  const c = loadConfig(base)
  t.same([c.HTTP_HEADERS_TIMEOUT_MS, c.HTTP_REQUEST_TIMEOUT_MS, c.HTTP_IDLE_TIMEOUT_MS, c.HTTP_KEEPALIVE_TIMEOUT_MS], [10000, 30000, 30000, 72000])
  t.throws(() => loadConfig({ ...base, HTTP_HEADERS_TIMEOUT_MS: '20000', HTTP_REQUEST_TIMEOUT_MS: '10000' }), /HTTP_HEADERS_TIMEOUT_MS must not exceed HTTP_REQUEST_TIMEOUT_MS/)
  t.equal(loadConfig({ ...base, HTTP_HEADERS_TIMEOUT_MS: '20000', HTTP_REQUEST_TIMEOUT_MS: '0' }).HTTP_REQUEST_TIMEOUT_MS, 0, 'a request timeout of 0 is off')
})

t.test('REDIS_URL: a redis:// or rediss:// URL turns cluster mode on; empty is unset; NODE_ID defaults to host:port', async (t) => {
  const base = { DATA_DIR: tempDir(t), JWT_SECRET: 'x'.repeat(32) }
  const on = loadConfig({ ...base, REDIS_URL: 'redis://127.0.0.1:1', PORT: '3456' })
  t.equal(on.redisUrl, 'redis://127.0.0.1:1')
  t.equal(on.REDIS_PREFIX, 'pixelwire:')
  t.match(on.NODE_ID, /^.+:3456$/, 'host name and port')
  t.equal(loadConfig({ ...base, REDIS_URL: 'rediss://u:secret@redis.internal:6380/2' }).redisUrl, 'rediss://u:secret@redis.internal:6380/2')
  t.equal(loadConfig({ ...base, REDIS_URL: '' }).redisUrl, null, 'REDIS_URL= (empty) boots single-node')
  t.equal(loadConfig(base).redisUrl, null)
  for (const bad of ['127.0.0.1:6379', 'http://127.0.0.1:6379', 'redis://', 'redis://:pw@']) {
    const err = t.throws(() => loadConfig({ ...base, REDIS_URL: bad }), /^invalid configuration: REDIS_URL must be a redis:\/\/ or rediss:\/\/ URL with a host/, bad) as unknown as Error
    t.notMatch(err.message, 'pw@', 'the value (a password) is never echoed')
  }
  t.throws(() => loadConfig({ ...base, NODE_ID: 'a b' }), /NODE_ID/)
  t.throws(() => loadConfig({ ...base, REDIS_PREFIX: '' }), /REDIS_PREFIX/)
  t.equal(loadConfig({ ...base, NODE_ID: 'eu-1.node_2' }).NODE_ID, 'eu-1.node_2')
})

t.test('WORKERS above 1 needs REDIS_URL; the node TTL outlasts two heartbeats', async (t) => {
  const base = { DATA_DIR: tempDir(t), JWT_SECRET: 'x'.repeat(32) }
  t.equal(loadConfig(base).WORKERS, 1, 'one process by default')
  t.throws(() => loadConfig({ ...base, WORKERS: '2' }), /^invalid configuration: WORKERS above 1 needs REDIS_URL/)
  t.equal(loadConfig({ ...base, WORKERS: '2', REDIS_URL: 'redis://127.0.0.1:1' }).WORKERS, 2)
  t.throws(() => loadConfig({ ...base, CLUSTER_HEARTBEAT_MS: '1000', CLUSTER_NODE_TTL_MS: '1500' }), /CLUSTER_NODE_TTL_MS must be at least twice CLUSTER_HEARTBEAT_MS/)
})
