// The Lua scripts of the cluster order (redis-order.ts says what each key
// holds and why). Each runs atomically in Redis: that is what makes Redis
// the sequencer (APPEND) and keeps lifecycle entries at one point of the
// order (LIFECYCLE). Errors are `CODE message` replies the order maps.
import type { Redis } from 'ioredis'

const APPEND = `
local m = redis.call('HMGET', KEYS[1], 'cluster', 'epoch', 'seq', 'snapseq', 'deleted')
if not m[1] then return redis.error_reply('NOCANVAS the canvas is unknown to Redis (was its data lost?)') end
if m[1] ~= ARGV[1] then return redis.error_reply('FENCED Redis belongs to another cluster id (was its data lost?)') end
if m[5] then return redis.error_reply('DELETED the canvas was deleted') end
if m[2] ~= ARGV[2] then return redis.error_reply('EPOCH the canvas has another epoch') end
local from = tonumber(m[3])
if ARGV[9] ~= '' and tonumber(ARGV[9]) ~= from then return redis.error_reply('MOVED the canvas is at seq ' .. from .. ', not ' .. ARGV[9]) end
local to = from + tonumber(ARGV[3])
redis.call('HSET', KEYS[1], 'seq', to)
redis.call('XADD', KEYS[2], to .. '-0', 'from', from, 'epoch', ARGV[2], 'px', ARGV[4], 'authors', ARGV[5], 'node', ARGV[6], 'at', ARGV[7])
if m[4] and redis.call('XLEN', KEYS[2]) > tonumber(ARGV[8]) then
  redis.call('XTRIM', KEYS[2], 'MINID', '~', m[4] .. '-0')
end
return {from, to}
`

const INIT = `
local m = redis.call('HMGET', KEYS[1], 'cluster', 'epoch', 'width', 'height', 'seq')
if m[1] then return m end
redis.call('HSET', KEYS[1], 'cluster', ARGV[1], 'epoch', ARGV[2], 'width', ARGV[3], 'height', ARGV[4], 'seq', ARGV[5])
redis.call('SADD', KEYS[2], KEYS[3])
return {ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]}
`

const SNAP = `
local m = redis.call('HMGET', KEYS[1], 'cluster', 'epoch', 'snapseq')
if m[1] ~= ARGV[1] or m[2] ~= ARGV[2] then return 0 end
if m[3] and tonumber(m[3]) >= tonumber(ARGV[3]) then return 0 end
redis.call('SET', KEYS[2], ARGV[4])
redis.call('HSET', KEYS[1], 'snapseq', ARGV[3])
return 1
`

const GETSNAP = `
local seq = redis.call('HGET', KEYS[1], 'snapseq')
if not seq then return false end
return {seq, redis.call('GET', KEYS[2])}
`

// A canvas the cluster did not have (or had deleted): its meta, its place in
// the set, its creation in the catalog. 0: the id is taken.
// KEYS: meta, set, catalog, log, snap; ARGV: cluster, epoch, width, height, palette ('' none), id
const CREATE = `
local m = redis.call('HMGET', KEYS[1], 'cluster', 'deleted')
if m[1] and not m[2] then return 0 end
redis.call('DEL', KEYS[1], KEYS[4], KEYS[5])
redis.call('HSET', KEYS[1], 'cluster', ARGV[1], 'epoch', ARGV[2], 'width', ARGV[3], 'height', ARGV[4], 'seq', 0, 'frozen', 0)
if ARGV[5] ~= '' then redis.call('HSET', KEYS[1], 'palette', ARGV[5]) end
redis.call('SADD', KEYS[2], ARGV[6])
redis.call('XADD', KEYS[3], 'MAXLEN', '~', 1000, '*', 'op', 'create', 'id', ARGV[6])
return 1
`

// A lifecycle entry in the canvas's stream, at the current seq, with its
// meta change. Returns the entry id.
// KEYS: meta, log, set, snap; ARGV: cluster, op, then per op:
//   state:  frozen ('' unchanged, 0, 1), palette ('' unchanged, 'null', JSON)
//   reset:  new epoch, deflated blank
//   delete: ttl (ms) of the canvas's keys, id
const LIFECYCLE = `
local m = redis.call('HMGET', KEYS[1], 'cluster', 'epoch', 'seq', 'deleted')
if not m[1] then return redis.error_reply('NOCANVAS the canvas is unknown to Redis (was its data lost?)') end
if m[1] ~= ARGV[1] then return redis.error_reply('FENCED Redis belongs to another cluster id (was its data lost?)') end
if m[4] then return redis.error_reply('DELETED the canvas was deleted') end
local seq = m[3]
local op = ARGV[2]
if op == 'state' then
  if ARGV[3] ~= '' then redis.call('HSET', KEYS[1], 'frozen', ARGV[3]) end
  if ARGV[4] == 'null' then redis.call('HDEL', KEYS[1], 'palette') elseif ARGV[4] ~= '' then redis.call('HSET', KEYS[1], 'palette', ARGV[4]) end
  return redis.call('XADD', KEYS[2], seq .. '-*', 'op', 'state', 'from', seq, 'epoch', m[2], 'frozen', ARGV[3], 'palette', ARGV[4])
elseif op == 'reset' then
  redis.call('HSET', KEYS[1], 'epoch', ARGV[3], 'snapseq', seq)
  redis.call('SET', KEYS[4], ARGV[4])
  return redis.call('XADD', KEYS[2], seq .. '-*', 'op', 'reset', 'from', seq, 'epoch', ARGV[3], 'snap', ARGV[4])
elseif op == 'delete' then
  redis.call('HSET', KEYS[1], 'deleted', 1)
  redis.call('SREM', KEYS[3], ARGV[4])
  local id = redis.call('XADD', KEYS[2], seq .. '-*', 'op', 'delete', 'from', seq, 'epoch', m[2])
  for i = 1, 4 do if i ~= 3 then redis.call('PEXPIRE', KEYS[i], ARGV[3]) end end
  return id
end
return redis.error_reply('BADOP ' .. op)
`

export type OrderRedis = Redis & {
  pwAppend (meta: string, stream: string, cluster: string, epoch: string, count: number, px: Buffer, authors: string, node: string, at: number, maxLen: number, expect: string): Promise<[number, number]>
  pwCreate (meta: string, set: string, catalog: string, log: string, snap: string, cluster: string, epoch: string, width: number, height: number, palette: string, id: string): Promise<number>
  pwLifecycle (meta: string, log: string, set: string, snap: string, cluster: string, op: string, a: string | Buffer | number, b: string | Buffer): Promise<string>
  pwInit (meta: string, set: string, id: string, cluster: string, epoch: string, width: number, height: number, seq: number): Promise<Array<string | null>>
  pwSnap (meta: string, snap: string, cluster: string, epoch: string, seq: number, deflated: Buffer): Promise<number>
  pwGetSnapBuffer (meta: string, snap: string): Promise<[Buffer, Buffer] | null>
}

export function defineScripts (r: Redis): OrderRedis {
  r.defineCommand('pwAppend', { numberOfKeys: 2, lua: APPEND })
  r.defineCommand('pwInit', { numberOfKeys: 3, lua: INIT })
  r.defineCommand('pwSnap', { numberOfKeys: 2, lua: SNAP })
  r.defineCommand('pwGetSnap', { numberOfKeys: 2, lua: GETSNAP })
  r.defineCommand('pwCreate', { numberOfKeys: 5, lua: CREATE })
  r.defineCommand('pwLifecycle', { numberOfKeys: 4, lua: LIFECYCLE })
  return r as OrderRedis
}
