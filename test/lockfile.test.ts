// Every resolved copy of the packages that carry our WebSocket / JWT / HTTP
// security fixes is at or above the fixed version, including copies nested
// under another package (node_modules/x/node_modules/ws), which `overrides`
// or a careless `npm install` could reintroduce.
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { ROOT } from '../src/paths.js'

/** Minimum safe versions. */
const MINIMUM: Record<string, string> = {
  ws: '8.23.0',
  'fast-jwt': '6.3.3',
  fastify: '5.8.5',
  '@fastify/websocket': '11.3.6'
}

/** major.minor.patch, numerically; a pre-release tag sorts before its release. */
function parse (v: string): [number, number, number, boolean] {
  const m = /^(\d+)\.(\d+)\.(\d+)(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?$/.exec(v)
  if (m === null) throw new Error(`not a semver version: ${JSON.stringify(v)}`)
  return [Number(m[1]), Number(m[2]), Number(m[3]), m[4] !== undefined]
}

/** <0, 0, >0 as a is older than, equal to, newer than b. */
function compareVersions (a: string, b: string): number {
  const [pa, pb] = [parse(a), parse(b)]
  for (let i = 0; i < 3; i++) {
    const d = (pa[i] as number) - (pb[i] as number)
    if (d !== 0) return Math.sign(d)
  }
  return Number(pb[3]) - Number(pa[3])
}

/** The package name of a lockfile `packages` key: the path after the last node_modules/. */
function packageName (key: string): string | null {
  const i = key.lastIndexOf('node_modules/')
  return i < 0 ? null : key.slice(i + 'node_modules/'.length)
}

t.test('compareVersions', async (t) => {
  const cases: Array<[string, string, number]> = [
    ['8.23.0', '8.23.0', 0],
    ['8.22.9', '8.23.0', -1],
    ['8.23.1', '8.23.0', 1],
    ['8.9.0', '8.23.0', -1], // numeric, not lexicographic
    ['9.0.0', '8.23.0', 1],
    ['7.99.99', '8.0.0', -1],
    ['6.3.10', '6.3.3', 1],
    ['5.8.4', '5.8.5', -1],
    ['11.3.6-rc.1', '11.3.6', -1],
    ['11.3.6+build.5', '11.3.6', 0]
  ]
  for (const [a, b, want] of cases) t.equal(compareVersions(a, b), want, `${a} vs ${b}`)
  t.throws(() => compareVersions('8.23', '8.23.0'), /not a semver version/)
  t.throws(() => compareVersions('latest', '8.23.0'), /not a semver version/)
})

t.test('package-lock.json: no vulnerable copy of ws, fast-jwt, fastify or @fastify/websocket', async (t) => {
  const lock = JSON.parse(readFileSync(join(ROOT, 'package-lock.json'), 'utf8')) as {
    lockfileVersion: number
    packages?: Record<string, { version?: string, link?: boolean, name?: string }>
  }
  t.ok(lock.lockfileVersion >= 2, 'lockfile v2 or v3 (has the packages map)')
  const packages = lock.packages ?? {}
  t.ok(Object.keys(packages).length > 0, 'packages map is not empty')

  const found: Record<string, string[]> = Object.fromEntries(Object.keys(MINIMUM).map((n) => [n, []]))
  for (const [key, entry] of Object.entries(packages)) {
    // An alias ("x": "npm:ws@8") is listed under its alias with the real name in `name`.
    const name = entry.name ?? packageName(key)
    if (name === null || !Object.hasOwn(MINIMUM, name)) continue
    if (entry.link === true) continue // a workspace symlink; its target is listed on its own
    t.type(entry.version, 'string', `${key} has a version`)
    const version = entry.version ?? '0.0.0'
    found[name].push(`${key}@${version}`)
    t.ok(compareVersions(version, MINIMUM[name]) >= 0, `${key} ${version} >= ${MINIMUM[name]}`)
  }
  for (const [name, copies] of Object.entries(found)) {
    t.ok(copies.length >= 1, `${name} is in the lockfile (${copies.join(', ') || 'missing'})`)
  }
})
