// The canvas order of a cluster, in Redis (design (a) of issue 12: Redis is
// the sequencer; docs/architecture.md "Cluster mode" says why).
//
// Keys (P = REDIS_PREFIX; {id} is a hash tag, so one canvas's keys share a slot):
//   P cluster             the cluster's id, set once by the first node that
//                         finds Redis empty and has never been in a cluster
//   P canvases            the set of canvas ids
//   P canvas:{id}:meta    hash: cluster, epoch, width, height, seq (the
//                         counter), snapseq (the newest snapshot's seq)
//   P canvas:{id}:log     the stream of batches; entry id `<to>-0`, so a node
//                         at seq s reads on with XREAD from `s-0`; fields
//                         from, epoch, px (packed 7-byte records), authors
//                         (JSON runs), node, at
//   P canvas:{id}:snap    the newest snapshot (deflated RGB) at meta.snapseq
//
// Write: one APPEND script per canvas per tick per node (at most one in
// flight per canvas) checks the cluster id and epoch, moves the counter and
// adds the entry, atomically. Its reply is the batch's seqs: the painters'
// part is done (syncs, UNAVAILABLE on failure); nothing is shown yet.
//
// Read: one blocking XREAD over every canvas stream from this node's seq.
// Each entry is committed to this node's SQLite with the seq guard (the
// replica), then handed to the node's fan-out as a commit publication: the
// room applies it (from === seq) and shows it once the read is handled
// (canvas-service showSoon; at beats while the tick is stretched). So a
// change is shown only after Redis has it (AOF: written before any reply)
// and this node's log has it.
//
// Never a fork: Redis that lost its data (the cluster key gone, or a
// counter below what this node holds) is detected on every reconnect and by
// the APPEND script itself (its meta carries the cluster id); the node then
// refuses draws and fails readiness until an operator acts.
//
// Stream length: the APPEND script trims to REDIS_STREAM_MAXLEN entries but
// never past the newest snapshot in Redis, so snapshot + stream always cover
// the whole order. A node further behind than the stream (down for long, or
// joining late) installs that snapshot into its SQLite at boot; at run time
// it stops (see onFatal) and does so at its next boot.
import { randomBytes } from 'node:crypto'
import type { Redis } from 'ioredis'
import type { AuthorRun, CommitEvent, Sequencer } from './broker.js'
import type { RedisLink } from './redis-link.js'
import type { CanvasRow } from '../persistence/canvas-store.js'
import { PIXEL_RECORD_BYTES as RECORD } from '../protocol/wire.js'

/** What the order needs of this node's SQLite (src/persistence/canvas-store.ts). */
export interface Replica {
  list (): CanvasRow[]
  insert (row: CanvasRow): void
  /** commit a batch that must start right after `fromSeq` (the seq guard) */
  commit (canvas: string, fromSeq: number, records: Buffer, authors: AuthorRun[], at: number): void
  /** a canvas never drawn on (seq 0) takes the cluster's epoch and size */
  adopt (canvas: string, epoch: string, width: number, height: number): void
  /** install a snapshot at `seq`: the canvas's older log and snapshots go */
  rebase (canvas: string, epoch: string, seq: number, deflated: Buffer, at: number): void
  latestSnapshot (canvas: string): { seq: number, pixels: Buffer } | undefined
}

export interface OrderLogger {
  info (obj: object, msg?: string): void
  warn (obj: object, msg?: string): void
  error (obj: object, msg?: string): void
}

export interface RedisOrderOptions {
  link: RedisLink
  prefix: string
  nodeId: string
  replica: Replica
  /** the cluster id this node has been part of (null: never), and where to remember it */
  clusterId: { read (): string | null, write (id: string): void }
  maxLen: number
  /** how long one XREAD blocks (then it is asked again) */
  blockMs: number
  /** entries read per XREAD at most (bounds one read's memory) */
  readCount: number
  /** the canvas a node creates when the cluster has none (main) */
  defaultCanvas: { id: string, width: number, height: number }
  newEpoch: () => string
  log: OrderLogger
  observeAppend?: (seconds: number) => void
  /** the replica's SQLite commit of one batch (pixelwire_commit_duration_seconds, as a node alone) */
  observeCommit?: (seconds: number) => void
  /** the node can no longer follow the order in place (the stream moved past it): stop, and rebuild at the next boot */
  onFatal: (reason: string) => void
}

export interface OrderStats {
  appends: number
  appendFailures: number
  entriesRead: number
  gapsDetected: number
  gapsFilled: number
  /** 1 while this node has found Redis without the data it had (data loss) */
  dataLost: number
}

const APPEND = `
local m = redis.call('HMGET', KEYS[1], 'cluster', 'epoch', 'seq', 'snapseq')
if not m[1] then return redis.error_reply('NOCANVAS the canvas is unknown to Redis (was its data lost?)') end
if m[1] ~= ARGV[1] then return redis.error_reply('FENCED Redis belongs to another cluster id (was its data lost?)') end
if m[2] ~= ARGV[2] then return redis.error_reply('EPOCH the canvas has another epoch') end
local from = tonumber(m[3])
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

type OrderRedis = Redis & {
  pwAppend (meta: string, stream: string, cluster: string, epoch: string, count: number, px: Buffer, authors: string, node: string, at: number, maxLen: number): Promise<[number, number]>
  pwInit (meta: string, set: string, id: string, cluster: string, epoch: string, width: number, height: number, seq: number): Promise<Array<string | null>>
  pwSnap (meta: string, snap: string, cluster: string, epoch: string, seq: number, deflated: Buffer): Promise<number>
  pwGetSnapBuffer (meta: string, snap: string): Promise<[Buffer, Buffer] | null>
}

function defineScripts (r: Redis): OrderRedis {
  r.defineCommand('pwAppend', { numberOfKeys: 2, lua: APPEND })
  r.defineCommand('pwInit', { numberOfKeys: 3, lua: INIT })
  r.defineCommand('pwSnap', { numberOfKeys: 2, lua: SNAP })
  r.defineCommand('pwGetSnap', { numberOfKeys: 2, lua: GETSNAP })
  return r as OrderRedis
}

interface Followed { id: string, epoch: string, seq: number }

export interface RedisOrder extends Sequencer {
  /** Boot: join (or found) the cluster and bring this node's SQLite to a state the stream continues. */
  join (): Promise<void>
  /** Start reading the order: `deliver` gets every batch, in order, once this node's log has it. */
  start (deliver: (event: CommitEvent) => void): void
  /** Offer a snapshot this node stored (the newest in Redis bounds how far the stream is trimmed). */
  offerSnapshot (canvas: string, seq: number, deflated: Buffer): void
  /** changes this node's log is behind the cluster's counter, per canvas (refreshed every health interval) */
  lag (): ReadonlyMap<string, number>
  readonly stats: OrderStats
  close (): void
}

export function createRedisOrder (o: RedisOrderOptions): RedisOrder {
  const cmd = defineScripts(o.link.command)
  const reader = o.link.reader
  const P = o.prefix
  const clusterKey = `${P}cluster`
  const setKey = `${P}canvases`
  const metaKey = (id: string) => `${P}canvas:{${id}}:meta`
  const logKey = (id: string) => `${P}canvas:{${id}}:log`
  const snapKey = (id: string) => `${P}canvas:{${id}}:snap`
  const stats: OrderStats = { appends: 0, appendFailures: 0, entriesRead: 0, gapsDetected: 0, gapsFilled: 0, dataLost: 0 }
  const followed = new Map<string, Followed>()
  const lag = new Map<string, number>()
  let cluster = ''
  /** why appends are refused although Redis answers (data lost, another cluster); null: they are not */
  let fenced: string | null = null
  let closed = false
  let deliver: ((event: CommitEvent) => void) | null = null

  function fence (reason: string): void {
    if (fenced === null) o.log.error({ reason }, 'cluster order fenced: draws refused until an operator acts (docs/architecture.md, Cluster mode)')
    fenced = reason
    stats.dataLost = 1
  }

  /** The cluster id: Redis's, checked against the one this node remembers. */
  async function joinCluster (): Promise<void> {
    const mine = o.clusterId.read()
    let theirs = await cmd.get(clusterKey)
    if (theirs === null) {
      if (mine !== null) {
        // This node was in a cluster and Redis no longer knows it: never start a new order over it.
        return fence(`Redis has no cluster id, but this node was in cluster ${mine}: Redis lost its data`)
      }
      await cmd.set(clusterKey, randomBytes(12).toString('base64url'), 'NX')
      theirs = (await cmd.get(clusterKey))!
      o.log.info({ cluster: theirs }, 'cluster joined (or founded)')
    }
    if (mine !== null && mine !== theirs) return fence(`Redis holds cluster ${theirs}, this node was in cluster ${mine}`)
    if (mine === null) o.clusterId.write(theirs)
    cluster = theirs
  }

  /**
   * Throws while Redis cannot be asked (the caller retries); a Redis that
   * is not the order this node followed fences it instead (the node serves
   * what it has, refuses draws, fails readiness).
   */
  async function join (): Promise<void> {
    await joinCluster()
    if (fenced !== null) return
    const local = new Map(o.replica.list().map((r) => [r.id, r]))
    const ids = new Set([...local.keys(), ...await cmd.smembers(setKey)])
    if (ids.size === 0) ids.add(o.defaultCanvas.id)
    for (const id of ids) {
      let row = local.get(id)
      if (row === undefined) {
        const d = o.defaultCanvas
        // A canvas only the cluster knows gets its row from the meta below (epoch, size): placeholders here.
        row = { id, width: d.width, height: d.height, epoch: o.newEpoch(), seq: 0, createdAt: Date.now() }
        o.replica.insert(row)
      }
      const [c, epoch, w, h, seq] = await cmd.pwInit(metaKey(id), setKey, id, cluster, row.epoch, row.width, row.height, row.seq)
      if (c !== cluster) fence(`canvas ${id} belongs to cluster ${c}, not ${cluster}`)
      const theirSeq = Number(seq)
      if (epoch !== row.epoch) {
        if (row.seq !== 0) fence(`canvas ${id}: this node holds epoch ${row.epoch} at seq ${row.seq}, the cluster epoch ${epoch}`)
        else o.replica.adopt(id, epoch!, Number(w), Number(h))
      } else if (row.seq > theirSeq) {
        fence(`canvas ${id}: this node holds seq ${row.seq}, Redis only ${theirSeq}: Redis lost data`)
      }
      if (fenced !== null) return
      // A canvas founded by this node with history: the others can only start from a snapshot.
      if (theirSeq === row.seq && row.seq > 0) await offerLatest(id, epoch!)
      followed.set(id, { id, epoch: epoch!, seq: row.seq })
      await catchUpAtBoot(followed.get(id)!)
    }
  }

  async function offerLatest (id: string, epoch: string): Promise<void> {
    const snap = o.replica.latestSnapshot(id)
    if (snap !== undefined) await cmd.pwSnap(metaKey(id), snapKey(id), cluster, epoch, snap.seq, snap.pixels)
  }

  /** When the stream no longer starts at or before this node's seq: install Redis's snapshot first. */
  async function catchUpAtBoot (f: Followed): Promise<void> {
    const seq = Number(await cmd.hget(metaKey(f.id), 'seq'))
    if (seq <= f.seq) return
    const first = await cmd.xrange(logKey(f.id), '-', '+', 'COUNT', 1)
    const firstFrom = first.length > 0 ? Number(fieldOf(first[0][1], 'from')) : seq
    if (firstFrom <= f.seq) return // the stream continues this node's log
    stats.gapsDetected++
    const snap = await cmd.pwGetSnapBuffer(metaKey(f.id), snapKey(f.id))
    const snapSeq = snap === null ? -1 : Number(snap[0].toString())
    if (snap === null || snapSeq < firstFrom || snapSeq < f.seq) {
      return fence(`canvas ${f.id}: this node is at seq ${f.seq}, the stream starts after ${firstFrom} and Redis has no snapshot that bridges it`)
    }
    o.replica.rebase(f.id, f.epoch, snapSeq, snap[1], Date.now())
    o.log.warn({ canvas: f.id, from: f.seq, to: snapSeq }, 'behind the stream: installed the cluster snapshot (pixel history before it is not on this node)')
    f.seq = snapSeq
    stats.gapsFilled++
  }

  /** canvases created on this node after boot, joining the order */
  const registering = new Map<string, Promise<void>>()

  function register (row: { id: string, epoch: string, width: number, height: number, seq: number }): void {
    const p = cmd.pwInit(metaKey(row.id), setKey, row.id, cluster, row.epoch, row.width, row.height, row.seq).then(([c, epoch]) => {
      if (c !== cluster || epoch !== row.epoch) throw new Error(`canvas ${row.id} exists in the cluster with another epoch (created on two nodes at once?)`)
      followed.set(row.id, { id: row.id, epoch: row.epoch, seq: row.seq })
      registering.delete(row.id)
    })
    p.catch((err: Error) => o.log.error({ err: err.message, canvas: row.id }, 'canvas not registered in the cluster order; its draws are refused'))
    registering.set(row.id, p)
  }

  async function append (canvas: string, epoch: string, records: Buffer, authors: readonly AuthorRun[]): Promise<{ from: number, to: number }> {
    if (fenced !== null) throw new Error(fenced)
    const start = performance.now()
    try {
      await registering.get(canvas)
      const runs = authors.map((a) => (a.name !== undefined ? { user: a.user, count: a.count, name: a.name } : { user: a.user, count: a.count }))
      const [from, to] = await cmd.pwAppend(metaKey(canvas), logKey(canvas), cluster, epoch, records.length / RECORD, records, JSON.stringify(runs), o.nodeId, Date.now(), o.maxLen)
      stats.appends++
      o.observeAppend?.((performance.now() - start) / 1000)
      return { from, to }
    } catch (err) {
      stats.appendFailures++
      const msg = (err as Error).message
      if (/^(NOCANVAS|FENCED)/.test(msg)) fence(msg)
      throw err
    }
  }

  function fieldOf (fields: Array<string | Buffer>, name: string): string | Buffer | undefined {
    for (let i = 0; i < fields.length; i += 2) if (fields[i].toString() === name) return fields[i + 1]
    return undefined
  }

  /** One entry of a canvas's stream: into the replica, then to the fan-out. */
  function onEntry (f: Followed, id: string, fields: Buffer[]): boolean {
    const to = Number(id.slice(0, id.indexOf('-')))
    if (to <= f.seq) return true // already held (a re-read after a reconnect)
    const from = Number(fieldOf(fields, 'from')!.toString())
    const epoch = fieldOf(fields, 'epoch')!.toString()
    const px = fieldOf(fields, 'px') as Buffer
    if (epoch !== f.epoch) {
      // Canvas reset (a new epoch, issue 13) is not followed across nodes
      // yet: never mix two epochs in one log, and never skip silently.
      fence(`canvas ${f.id}: the order moved to epoch ${epoch}, this node holds ${f.epoch}; restart the node`)
      return false
    }
    if (from !== f.seq) {
      stats.gapsDetected++
      o.log.error({ canvas: f.id, seq: f.seq, from }, 'the stream moved past this node (trimmed while it was away): stopping to rebuild from the cluster snapshot at the next boot')
      o.onFatal(`canvas ${f.id}: the stream continues at ${from}, this node is at ${f.seq}`)
      return false
    }
    const authors = JSON.parse(fieldOf(fields, 'authors')!.toString()) as AuthorRun[]
    const at = Number(fieldOf(fields, 'at')!.toString())
    const start = performance.now()
    o.replica.commit(f.id, from, px, authors, at)
    o.observeCommit?.((performance.now() - start) / 1000)
    f.seq = to
    stats.entriesRead++
    deliver!({ type: 'commit', canvas: f.id, epoch, from, to, pixels: px })
    return true
  }

  const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms).unref())

  async function readLoop (): Promise<void> {
    let failures = 0
    for (;;) {
      if (closed) return
      if (fenced !== null || !o.link.up || followed.size === 0) {
        await sleep(100)
        continue
      }
      const fs = [...followed.values()]
      const streams = [...fs.map((f) => logKey(f.id)), ...fs.map((f) => `${f.seq}-0`)]
      let res: Array<[Buffer, Array<[Buffer, Buffer[]]>]> | null
      try {
        res = await withDeadline(reader.xreadBuffer('COUNT', o.readCount, 'BLOCK', o.blockMs, 'STREAMS', ...streams), o.blockMs + 2000)
        failures = 0
      } catch (err) {
        if (closed) return
        if (failures++ === 0) o.log.warn({ err: (err as Error).message }, 'reading the cluster order failed; retrying')
        await sleep(Math.min(2000, 50 * 2 ** Math.min(failures, 6)))
        continue
      }
      if (res === null) continue
      for (const [key, entries] of res) {
        const f = fs.find((x) => logKey(x.id) === key.toString())
        if (f === undefined) continue
        for (const [id, fields] of entries) {
          let ok: boolean
          try {
            ok = onEntry(f, id.toString(), fields)
          } catch (err) {
            // SQLite refused the replica write: read it again after a pause, nothing shown meanwhile.
            o.log.error({ err, canvas: f.id }, 'storing a batch of the cluster order failed; retrying')
            await sleep(500)
            break
          }
          if (!ok) return
        }
      }
    }
  }

  /** The reader may sit on a Redis that stopped answering (SIGSTOP): drop the connection then, ioredis reconnects. */
  async function withDeadline<T> (p: Promise<T>, ms: number): Promise<T> {
    let timer: NodeJS.Timeout | undefined
    const deadline = new Promise<never>((_resolve, reject) => {
      timer = setTimeout(() => {
        reader.disconnect(true)
        reject(new Error(`no answer to XREAD within ${ms} ms`))
      }, ms)
    })
    try {
      return await Promise.race([p, deadline])
    } finally {
      clearTimeout(timer)
    }
  }

  /** After Redis comes back: is it still the order this node followed? */
  async function verify (): Promise<void> {
    try {
      const theirs = await cmd.get(clusterKey)
      if (theirs !== cluster) return fence(theirs === null ? 'Redis came back without the cluster id: it lost its data' : `Redis now holds cluster ${theirs}, not ${cluster}`)
      for (const f of followed.values()) {
        const seq = await cmd.hget(metaKey(f.id), 'seq')
        if (seq === null || Number(seq) < f.seq) return fence(`canvas ${f.id}: Redis is at seq ${seq ?? 'none'}, this node already holds ${f.seq}: Redis lost data`)
      }
    } catch (err) {
      o.log.warn({ err: (err as Error).message }, 'checking Redis after a reconnect failed; checking again at the next one')
    }
  }
  o.link.onReconnect(() => { verify().catch(() => {}) })

  async function refreshLag (): Promise<void> {
    if (!o.link.up || followed.size === 0) return
    try {
      const fs = [...followed.values()]
      const seqs = await Promise.all(fs.map((f) => cmd.hget(metaKey(f.id), 'seq')))
      fs.forEach((f, i) => lag.set(f.id, Math.max(0, Number(seqs[i] ?? 0) - f.seq)))
    } catch {} // the next refresh tries again; redis up says why
  }
  const lagTimer = setInterval(() => { refreshLag().catch(() => {}) }, 1000)
  lagTimer.unref()

  return {
    join,
    start (d) {
      deliver = d
      readLoop().catch((err: Error) => o.log.error({ err }, 'cluster order reader stopped'))
    },
    append,
    register,
    health () {
      if (fenced !== null) return fenced
      return o.link.health()
    },
    offerSnapshot (canvas, seq, deflated) {
      const f = followed.get(canvas)
      if (f === undefined || !o.link.up) return
      cmd.pwSnap(metaKey(canvas), snapKey(canvas), cluster, f.epoch, seq, deflated).catch((err: Error) => {
        o.log.warn({ err: err.message, canvas }, 'offering a snapshot to Redis failed; the next one will')
      })
    },
    lag: () => lag,
    stats,
    close () {
      closed = true
      clearInterval(lagTimer)
    }
  }
}
