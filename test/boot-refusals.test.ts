// Settings this build cannot honour stop a real server process at boot with
// a one-line reason on stderr, exit 1, before it listens or writes anything:
// a REDIS_URL that is no redis:// URL (a node meant to be in a cluster must
// never run alone unnoticed), WORKERS above 1 without REDIS_URL (workers
// sharing nothing would each run their own canvas) and a TRUST_PROXY entry
// that is no address (a typo would otherwise trust nobody, silently).
import { readdirSync } from 'node:fs'
import t from 'tap'
import { tempDir } from './helper.js'
import { run, within } from './process.js'

const cases: Array<[string, string, RegExp]> = [
  ['REDIS_URL', '127.0.0.1:6379', /^invalid configuration: REDIS_URL must be a redis:\/\/ or rediss:\/\/ URL with a host \(redis:\/\/\[user:password@\]host\[:port\]\[\/db\]\)\n$/],
  ['WORKERS', '2', /^invalid configuration: WORKERS above 1 needs REDIS_URL \(the workers are cluster nodes joined through Redis\)\n$/],
  ['TRUST_PROXY', '127.0.0.1, proxy.internal', /^invalid configuration: TRUST_PROXY entry "proxy\.internal" is not an IP address, a CIDR or one of loopback, linklocal, uniquelocal\n$/]
]

t.test('a bad REDIS_URL, WORKERS without REDIS_URL and a bad TRUST_PROXY stop boot with a clear message', async (t) => {
  for (const [name, value, says] of cases) {
    const dataDir = tempDir(t)
    const p = run(t, ['src/server.ts'], { FASTIFY_AUTOLOAD_TYPESCRIPT: '1', PORT: '0', HOST: '127.0.0.1', DATA_DIR: dataDir, [name]: value })
    t.same(await within(p.exited, 20000, `exit with ${name}`), { code: 1, signal: null }, `${name}=${value}: exit code 1`)
    t.match(p.err(), says, `${name}: stderr says why, in one line`)
    t.equal(p.out(), '', `${name}: nothing on stdout (never listened)`)
    t.same(readdirSync(dataDir), [], `${name}: nothing written to DATA_DIR (not even a dev secret)`)
  }
})
