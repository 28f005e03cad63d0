// Cluster-wide admin state that is not the canvas order (cluster mode,
// REDIS_URL): live settings and region locks. Redis is the source of truth,
// one hash per kind, each with a version that every change moves:
//
//   P settings   hash: <setting name> → its JSON value (only those an admin
//                set), `#v` → the version
//   P locks      hash: <canvas id> → JSON { v, locks } (v: the version of the
//                canvas's last change), `#v` → the version, `#id` → the last
//                lock id handed out (ids are cluster-unique)
//
// A change is one script (the value, the version, atomically), then relayed
// to the other nodes on the bus (cluster-broker.ts, at most once) carrying
// its version; a node applies an event only if it is newer than what it
// holds (two admins on two nodes: every node ends on the same last change,
// whatever order the bus brought them in). What the bus lost (a node down,
// Redis away) is made good by a full load: at boot, and after every
// reconnect to Redis (settings.reload, locks.reload).
//
// SQLite's settings and locks tables are not used in cluster mode (a node
// alone keeps them there).
import type { Redis } from 'ioredis'
import type { Lock, LockStore, LockChange, LockSnapshot } from '../moderation/locks.js'
import type { SettingsPatch, SyncedSettingsStore } from '../settings/settings.js'
import { DomainError } from '../domain-error.js'

const VERSION = '#v'
const LOCK_ID = '#id'

// KEYS: settings; ARGV: name, value ('' drops it) pairs. Returns the whole hash.
const SAVE_SETTINGS = `
for i = 1, #ARGV, 2 do
  if ARGV[i + 1] == '' then redis.call('HDEL', KEYS[1], ARGV[i]) else redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end
end
redis.call('HINCRBY', KEYS[1], '${VERSION}', 1)
return redis.call('HGETALL', KEYS[1])
`

// KEYS: locks; ARGV: canvas, max, lock JSON (without id).
// Returns {0} past the cap, else {1, version, id, canvas's JSON}.
const ADD_LOCK = `
local cur = redis.call('HGET', KEYS[1], ARGV[1])
local locks = {}
if cur then locks = cjson.decode(cur).locks end
if #locks >= tonumber(ARGV[2]) then return {0} end
local id = redis.call('HINCRBY', KEYS[1], '${LOCK_ID}', 1)
local v = redis.call('HINCRBY', KEYS[1], '${VERSION}', 1)
local lock = cjson.decode(ARGV[3])
lock.id = id
locks[#locks + 1] = lock
local out = cjson.encode({ v = v, locks = locks })
redis.call('HSET', KEYS[1], ARGV[1], out)
return {1, v, id, out}
`

// KEYS: locks; ARGV: canvas, id ('*': every lock of the canvas, none needed).
// Returns {0} when there was no such lock, else {1, version, canvas's JSON}.
const REMOVE_LOCK = `
local cur = redis.call('HGET', KEYS[1], ARGV[1])
local locks = {}
if cur then locks = cjson.decode(cur).locks end
local keep = {}
local found = ARGV[2] == '*'
for _, l in ipairs(locks) do
  if ARGV[2] ~= '*' and tostring(l.id) == ARGV[2] then found = true else keep[#keep + 1] = l end
end
if ARGV[2] == '*' then keep = {} end
if not found then return {0} end
local v = redis.call('HINCRBY', KEYS[1], '${VERSION}', 1)
local out = cjson.encode({ v = v, locks = keep })
if #keep == 0 then
  redis.call('HDEL', KEYS[1], ARGV[1])
  out = '{"v":' .. v .. ',"locks":[]}'
else
  redis.call('HSET', KEYS[1], ARGV[1], out)
end
return {1, v, out}
`

type StateRedis = Redis & {
  pwSaveSettings (key: string, ...args: string[]): Promise<string[]>
  pwAddLock (key: string, canvas: string, max: number, lock: string): Promise<[number, number?, number?, string?]>
  pwRemoveLock (key: string, canvas: string, id: string): Promise<[number, number?, string?]>
}

function scripts (r: Redis): StateRedis {
  const s = r as StateRedis
  if (typeof s.pwSaveSettings !== 'function') {
    r.defineCommand('pwSaveSettings', { numberOfKeys: 1, lua: SAVE_SETTINGS })
    r.defineCommand('pwAddLock', { numberOfKeys: 1, lua: ADD_LOCK })
    r.defineCommand('pwRemoveLock', { numberOfKeys: 1, lua: REMOVE_LOCK })
  }
  return s
}

function parseValues (flat: string[]): { values: Record<string, unknown>, version: number } {
  const values: Record<string, unknown> = {}
  let version = 0
  for (let i = 0; i < flat.length; i += 2) {
    if (flat[i] === VERSION) { version = Number(flat[i + 1]); continue }
    try {
      values[flat[i]] = JSON.parse(flat[i + 1])
    } catch {
      values[flat[i]] = flat[i + 1] // not JSON: refused by the schema check, logged there
    }
  }
  return { values, version }
}

/**
 * Live settings in Redis. `load` answers from this node's copy (the draw
 * path never waits on Redis); `save` writes through and refreshes the copy
 * with the hash as the script left it; `sync` loads the hash; `adopt` takes
 * a newer copy relayed by another node.
 */
export function createRedisSettingsStore (command: Redis, prefix: string): SyncedSettingsStore {
  const r = scripts(command)
  const key = `${prefix}settings`
  let values: Record<string, unknown> = {}
  let version = 0
  return {
    load: () => values,
    async save (patch: SettingsPatch): Promise<void> {
      const args: string[] = []
      for (const [name, value] of Object.entries(patch)) {
        if (value === undefined) continue
        args.push(name, value === null ? '' : JSON.stringify(value))
      }
      const res = parseValues(await r.pwSaveSettings(key, ...args))
      if (res.version > version) ({ values, version } = res)
    },
    get version () { return version },
    async sync (): Promise<void> {
      const res = parseValues(await r.hgetall(key).then((h) => Object.entries(h).flat()))
      // A change that came on the bus while HGETALL was on its way is newer: keep it.
      if (res.version >= version) ({ values, version } = res)
    },
    adopt (stored: Record<string, unknown>, v: number): boolean {
      if (v <= version) return false
      values = { ...stored }
      version = v
      return true
    }
  }
}

/** Region locks in Redis; the node's copy is the Locks domain's (every change comes back as a `locks` event with its version). */
export function createRedisLockStore (command: Redis, prefix: string): LockStore {
  const r = scripts(command)
  const key = `${prefix}locks`
  return {
    async add (lock: Omit<Lock, 'id'>, max: number): Promise<LockChange> {
      const res = await r.pwAddLock(key, lock.canvas, max, JSON.stringify(lock))
      if (res[0] === 0) throw new DomainError('conflict', 'TOO_MANY_LOCKS', `canvas ${lock.canvas} has ${max} locks already (MAX_LOCKS_PER_CANVAS); lift one first`)
      const { locks } = JSON.parse(res[3]!) as { locks: Lock[] }
      return { lock: { id: res[2]!, ...lock }, locks, version: res[1]! }
    },
    async remove (canvas: string, id: number | '*'): Promise<LockChange | null> {
      const res = await r.pwRemoveLock(key, canvas, String(id))
      if (res[0] === 0) return null
      const { locks } = JSON.parse(res[2]!) as { locks: Lock[] }
      return { locks, version: res[1]! }
    },
    async all (): Promise<LockSnapshot> {
      const h = await r.hgetall(key)
      const byCanvas = new Map<string, { version: number, locks: Lock[] }>()
      let version = 0
      for (const [field, value] of Object.entries(h)) {
        if (field === VERSION) { version = Number(value); continue }
        if (field === LOCK_ID) continue
        const { v, locks } = JSON.parse(value) as { v: number, locks: Lock[] }
        byCanvas.set(field, { version: v, locks })
      }
      return { version, byCanvas }
    }
  }
}
