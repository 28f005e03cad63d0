// The canvas order of a cluster, in Redis (design (a) of issue 12: Redis is
// the sequencer; docs/architecture.md "Cluster mode" says why).
//
// Over 250 lines: joining the cluster, the write (append, lifecycle,
// create), the one read loop and the fencing share the followed canvases'
// positions and the data-loss state, which must change together (a split
// would pass them around by reference); its Lua scripts are in
// redis-order-scripts.ts.
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
//   P catalog             a stream of canvas creations (`op` create, `id`):
//                         every node follows it with the canvas streams and
//                         takes a new canvas's row from its meta (which also
//                         holds frozen, palette and, once deleted, deleted)
//
// Lifecycle (issue 13 through the order): freeze/unfreeze and palette
// (`op` state), reset (`op` reset: the new epoch and its blank snapshot)
// and delete (`op` delete) are entries of the canvas's stream with id
// `<seq>-<n>` (n >= 1: after the batch that ended at seq, before the next
// one), written by one script with the meta change. Every node applies
// them when it reads them, so at the same point of the order: a reset
// starts the new epoch at the same seq on every node, a delete closes the
// canvas's clients (4404) everywhere. A revert is an ordinary APPEND whose
// plan was made against the seq Redis still holds (else MOVED: planned
// again). A node that was away reads the entries it missed, or installs the
// snapshot with the meta's epoch, frozen and palette.
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
import { defineScripts } from './redis-order-scripts.js'
import type { AuthorRun, CanvasStateEvent, CommitEvent, Sequencer } from './broker.js'
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
  /** lifecycle entries of the order (canvas-state.ts's store) */
  setFrozen (canvas: string, frozen: boolean): boolean
  setPalette (canvas: string, palette: number[] | null): boolean
  reset (canvas: string, epoch: string, blank: Buffer): { seq: number } | undefined
  remove (canvas: string): boolean
}

/** What a node applies of the order: batches, and the lifecycle entries as canvas-state events. */
export type OrderEvent = CommitEvent | CanvasStateEvent

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
  /** how long a deleted canvas's keys stay in Redis (its delete entry for nodes that were away), ms */
  deletedTtlMs?: number
  /** how long an admin's lifecycle call waits for this node to have applied its entry, ms */
  appliedWaitMs?: number
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

/** A canvas this node follows: its epoch and seq, and the id of the last stream entry it applied (XREAD goes on after it). */
interface Followed { id: string, epoch: string, seq: number, pos: string }

/** A canvas as the cluster's meta has it (created on another node). */
export interface ClusterCanvasRow extends CanvasRow { frozen: boolean, palette: number[] | null }

export interface RedisOrder extends Sequencer {
  /** Boot: join (or found) the cluster and bring this node's SQLite to a state the stream continues. */
  join (): Promise<void>
  /**
   * Start reading the order: `deliver` gets every batch and lifecycle
   * change, in order, once this node's SQLite has it; `onCanvas` every
   * canvas created on another node, once its row (and, when the stream was
   * trimmed, its snapshot) is stored, before any of its entries is applied.
   */
  start (deliver: (event: OrderEvent) => void, onCanvas: (row: ClusterCanvasRow) => void): void
  /** A new canvas in the cluster (CANVAS_EXISTS: false); this node follows it at once. */
  create (row: ClusterCanvasRow): Promise<boolean>
  /** Freeze/unfreeze, palette (undefined: unchanged) as an entry of the order; resolves once this node applied it (or appliedWaitMs passed). */
  setState (canvas: string, change: { frozen?: boolean, palette?: number[] | null }): Promise<void>
  /** Reset as an entry of the order; resolves with the seq the new epoch starts at, once applied here. */
  reset (canvas: string, epoch: string, blank: Buffer): Promise<{ seq: number }>
  /** Delete as an entry of the order; resolves once applied here. */
  remove (canvas: string): Promise<void>
  /** Append only if the canvas is still at seq `expect` (a revert planned against it); MOVED otherwise. */
  appendAt (canvas: string, epoch: string, records: Buffer, authors: readonly AuthorRun[], expect: number): Promise<{ from: number, to: number }>
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
  let deliver: ((event: OrderEvent) => void) | null = null
  let onCanvas: ((row: ClusterCanvasRow) => void) | null = null
  const catalogKey = `${P}catalog`
  /** the last catalog entry this node has seen (XREAD goes on after it) */
  let catalogPos = '0-0'
  /** canvases created in the cluster this node could not store yet (a deleted one of that id still purging) */
  const retryAdopt = new Set<string>()
  /** canvases being taken from the cluster now (the catalog, a retry and a reconnect may ask at once) */
  const adopting = new Set<string>()
  /** canvases this node is creating: their catalog entry is not a stranger's */
  const creating = new Set<string>()
  /** admin calls waiting for this node to apply their entry: `<canvas> <entry id>` */
  const waiters = new Map<string, () => void>()

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
    const member = o.clusterId.read() !== null
    await joinCluster()
    if (fenced !== null) return
    // The catalog's position before the set is read: a creation between the two is read again, never missed.
    const lastCreated = await cmd.xrevrange(catalogKey, '+', '-', 'COUNT', 1)
    catalogPos = lastCreated.length > 0 ? lastCreated[0][0] : '0-0'
    const local = new Map(o.replica.list().map((r) => [r.id, r]))
    const inCluster = new Set(await cmd.smembers(setKey))
    const ids = new Set([...local.keys(), ...inCluster])
    if (ids.size === 0) ids.add(o.defaultCanvas.id)
    for (const id of ids) {
      let row = local.get(id)
      if (row !== undefined && member && !inCluster.has(id)) {
        // Deleted in the cluster while this node was away (its delete entry
        // expired or was not read): gone here too, its purge resumes at load.
        const gone = await cmd.hmget(metaKey(id), 'cluster', 'deleted')
        if (gone[0] === null || gone[1] !== null) {
          o.replica.remove(id)
          o.log.warn({ canvas: id }, 'canvas deleted in the cluster while this node was away: deleted here')
          continue
        }
      }
      const fresh = row === undefined
      if (row === undefined) {
        const d = o.defaultCanvas
        // A canvas only the cluster knows gets its row from the meta below (epoch, size): placeholders here.
        row = { id, width: d.width, height: d.height, epoch: o.newEpoch(), seq: 0, createdAt: Date.now() }
        try {
          o.replica.insert(row)
        } catch (err) {
          // A deleted canvas of that id still being purged here: taken once the purge is done.
          o.log.warn({ err, canvas: id }, 'a canvas of the cluster could not be stored here yet; retrying')
          retryAdopt.add(id)
          continue
        }
      }
      const [c, epoch, w, h, seq] = await cmd.pwInit(metaKey(id), setKey, id, cluster, row.epoch, row.width, row.height, row.seq)
      if (c !== cluster) fence(`canvas ${id} belongs to cluster ${c}, not ${cluster}`)
      const theirSeq = Number(seq)
      let mine = row.epoch
      if (row.seq > theirSeq) {
        fence(`canvas ${id}: this node holds seq ${row.seq}, Redis only ${theirSeq}: Redis lost data`)
      } else if (epoch !== row.epoch && row.seq === 0) {
        o.replica.adopt(id, epoch!, Number(w), Number(h))
        mine = epoch!
      }
      // Another epoch at a seq this node holds: reset while it was away; the
      // stream brings the reset entry (or the snapshot of the new epoch).
      if (fenced !== null) return
      if (fresh) await applyMetaState(id)
      // A canvas founded by this node with history: the others can only start from a snapshot.
      if (theirSeq === row.seq && row.seq > 0 && epoch === row.epoch) await offerLatest(id, epoch)
      const f: Followed = { id, epoch: mine, seq: row.seq, pos: `${row.seq}-0` }
      followed.set(id, f)
      await catchUpAtBoot(f)
    }
  }

  /** The meta's frozen and palette into this node's row (a row made here from the meta, or rebuilt from a snapshot). */
  async function applyMetaState (id: string): Promise<void> {
    const [frozen, palette] = await cmd.hmget(metaKey(id), 'frozen', 'palette')
    o.replica.setFrozen(id, frozen === '1')
    o.replica.setPalette(id, palette === null ? null : JSON.parse(palette) as number[])
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
    // The snapshot is of the meta's epoch (a reset sets both at once); so are frozen and palette.
    const epoch = (await cmd.hget(metaKey(f.id), 'epoch'))!
    o.replica.rebase(f.id, epoch, snapSeq, snap[1], Date.now())
    await applyMetaState(f.id)
    o.log.warn({ canvas: f.id, from: f.seq, to: snapSeq }, 'behind the stream: installed the cluster snapshot (pixel history before it is not on this node)')
    f.seq = snapSeq
    f.epoch = epoch
    f.pos = `${snapSeq}-0`
    stats.gapsFilled++
  }

  /** canvases created on this node after boot, joining the order */
  const registering = new Map<string, Promise<void>>()

  function register (row: { id: string, epoch: string, width: number, height: number, seq: number }): void {
    const p = cmd.pwInit(metaKey(row.id), setKey, row.id, cluster, row.epoch, row.width, row.height, row.seq).then(([c, epoch]) => {
      if (c !== cluster || epoch !== row.epoch) throw new Error(`canvas ${row.id} exists in the cluster with another epoch (created on two nodes at once?)`)
      followed.set(row.id, { id: row.id, epoch: row.epoch, seq: row.seq, pos: `${row.seq}-0` })
      registering.delete(row.id)
    })
    p.catch((err: Error) => o.log.error({ err: err.message, canvas: row.id }, 'canvas not registered in the cluster order; its draws are refused'))
    registering.set(row.id, p)
  }

  async function append (canvas: string, epoch: string, records: Buffer, authors: readonly AuthorRun[], expect = ''): Promise<{ from: number, to: number }> {
    if (fenced !== null) throw new Error(fenced)
    const start = performance.now()
    try {
      await registering.get(canvas)
      const runs = authors.map((a) => (a.name !== undefined ? { user: a.user, count: a.count, name: a.name } : { user: a.user, count: a.count }))
      const [from, to] = await cmd.pwAppend(metaKey(canvas), logKey(canvas), cluster, epoch, records.length / RECORD, records, JSON.stringify(runs), o.nodeId, Date.now(), o.maxLen, expect)
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

  /** Stream ids compared: `<ms>-<n>` numerically. */
  function after (a: string, b: string): boolean {
    const [am, an] = a.split('-').map(Number)
    const [bm, bn] = b.split('-').map(Number)
    return am > bm || (am === bm && an > bn)
  }

  /** Resolves once this node applied the canvas's entry `id` (or gave up waiting: it is in the order, every node applies it). */
  async function applied (canvas: string, id: string): Promise<void> {
    const f = followed.get(canvas)
    if (f === undefined || !after(id, f.pos)) return
    const key = `${canvas} ${id}`
    await new Promise<void>((resolve) => {
      const t = setTimeout(() => {
        waiters.delete(key)
        o.log.warn({ canvas, entry: id }, 'a lifecycle change is in the order but not applied on this node yet')
        resolve()
      }, o.appliedWaitMs ?? 10000)
      waiters.set(key, () => { clearTimeout(t); resolve() })
    })
  }

  function done (canvas: string, id: string): void {
    const key = `${canvas} ${id}`
    const w = waiters.get(key)
    if (w !== undefined) { waiters.delete(key); w() }
  }

  async function lifecycle (canvas: string, op: string, a: string | Buffer | number, b: string | Buffer): Promise<string> {
    if (fenced !== null) throw new Error(fenced)
    try {
      const id = await cmd.pwLifecycle(metaKey(canvas), logKey(canvas), setKey, snapKey(canvas), cluster, op, a, b)
      await applied(canvas, id)
      return id
    } catch (err) {
      const msg = (err as Error).message
      if (/^(NOCANVAS|FENCED)/.test(msg)) fence(msg)
      throw err
    }
  }

  async function create (row: ClusterCanvasRow): Promise<boolean> {
    if (fenced !== null) throw new Error(fenced)
    creating.add(row.id)
    try {
      const palette = row.palette === null ? '' : JSON.stringify(row.palette)
      const ok = await cmd.pwCreate(metaKey(row.id), setKey, catalogKey, logKey(row.id), snapKey(row.id), cluster, row.epoch, row.width, row.height, palette, row.id)
      if (ok !== 1) return false
      // The row before the canvas is followed: its first entry finds it.
      o.replica.insert(row)
      followed.set(row.id, { id: row.id, epoch: row.epoch, seq: 0, pos: '0-0' })
      return true
    } finally {
      creating.delete(row.id)
    }
  }

  /** A canvas created on another node (the catalog, or the set after a reconnect): its row, then it is followed. */
  async function adoptCanvas (id: string): Promise<void> {
    if (followed.has(id)) retryAdopt.delete(id)
    if (followed.has(id) || creating.has(id) || adopting.has(id)) return
    adopting.add(id)
    try {
      await adoptNew(id)
    } finally {
      adopting.delete(id)
    }
  }

  async function adoptNew (id: string): Promise<void> {
    const [c, epoch, w, h, frozen, palette, deleted] = await cmd.hmget(metaKey(id), 'cluster', 'epoch', 'width', 'height', 'frozen', 'palette', 'deleted')
    if (c !== cluster || deleted !== null || followed.has(id) || creating.has(id)) return
    const row: ClusterCanvasRow = {
      id,
      width: Number(w),
      height: Number(h),
      epoch: epoch!,
      seq: 0,
      createdAt: Date.now(),
      frozen: frozen === '1',
      palette: palette === null ? null : JSON.parse(palette) as number[]
    }
    try {
      o.replica.insert(row)
    } catch (err) {
      // This node still purges a deleted canvas of that id: tried again every second until it can.
      if (!retryAdopt.has(id)) o.log.warn({ err, canvas: id }, 'a canvas created in the cluster could not be stored here yet; retrying')
      retryAdopt.add(id)
      return
    }
    retryAdopt.delete(id)
    const f: Followed = { id, epoch: row.epoch, seq: 0, pos: '0-0' }
    await catchUpAtBoot(f)
    if (fenced !== null) return
    followed.set(id, f)
    o.log.info({ canvas: id, seq: f.seq }, 'canvas created in the cluster: following it')
    onCanvas!({ ...row, epoch: f.epoch, seq: f.seq })
  }

  function fieldOf (fields: Array<string | Buffer>, name: string): string | Buffer | undefined {
    for (let i = 0; i < fields.length; i += 2) if (fields[i].toString() === name) return fields[i + 1]
    return undefined
  }

  /** One entry of a canvas's stream: into the replica, then to the fan-out. */
  function onEntry (f: Followed, id: string, fields: Buffer[]): boolean {
    const to = Number(id.slice(0, id.indexOf('-')))
    const op = fieldOf(fields, 'op')?.toString()
    if (op !== undefined) return onLifecycle(f, id, to, op, fields)
    if (to <= f.seq) { f.pos = id; return true } // already held (a re-read after a reconnect)
    const from = Number(fieldOf(fields, 'from')!.toString())
    const epoch = fieldOf(fields, 'epoch')!.toString()
    const px = fieldOf(fields, 'px') as Buffer
    if (epoch !== f.epoch) {
      // A reset is an entry before the first batch of its epoch: a batch of
      // another epoch means this node missed it. Never mix two epochs in one log.
      fence(`canvas ${f.id}: the order moved to epoch ${epoch}, this node holds ${f.epoch}; restart the node`)
      return false
    }
    if (from !== f.seq) return behind(f, from)
    const authors = JSON.parse(fieldOf(fields, 'authors')!.toString()) as AuthorRun[]
    const at = Number(fieldOf(fields, 'at')!.toString())
    const start = performance.now()
    o.replica.commit(f.id, from, px, authors, at)
    o.observeCommit?.((performance.now() - start) / 1000)
    f.seq = to
    f.pos = id
    stats.entriesRead++
    deliver!({ type: 'commit', canvas: f.id, epoch, from, to, pixels: px })
    return true
  }

  function behind (f: Followed, from: number): false {
    stats.gapsDetected++
    o.log.error({ canvas: f.id, seq: f.seq, from }, 'the stream moved past this node (trimmed while it was away): stopping to rebuild from the cluster snapshot at the next boot')
    o.onFatal(`canvas ${f.id}: the stream continues at ${from}, this node is at ${f.seq}`)
    return false
  }

  /**
   * A lifecycle entry (at `<seq>-<n>`, right after the batch ending at seq):
   * into the replica, then to the fan-out as a canvas-state event. Applying
   * one again (re-read after a restart) changes nothing.
   */
  function onLifecycle (f: Followed, id: string, at: number, op: string, fields: Buffer[]): boolean {
    if (at < f.seq) { f.pos = id; return true } // before what this node holds (a snapshot installed past it)
    if (at > f.seq) return behind(f, at)
    const canvas = f.id
    const epoch = fieldOf(fields, 'epoch')!.toString()
    if (op === 'state') {
      const frozen = fieldOf(fields, 'frozen')!.toString()
      const palette = fieldOf(fields, 'palette')!.toString()
      const event: CanvasStateEvent = { type: 'canvas-state', canvas }
      if (frozen !== '') o.replica.setFrozen(canvas, (event.frozen = frozen === '1'))
      if (palette !== '') o.replica.setPalette(canvas, (event.palette = palette === 'null' ? null : JSON.parse(palette) as number[]))
      f.pos = id
      deliver!(event)
    } else if (op === 'reset') {
      f.pos = id
      if (epoch !== f.epoch) {
        const res = o.replica.reset(canvas, epoch, fieldOf(fields, 'snap') as Buffer)
        if (res === undefined || res.seq !== at) throw new Error(`canvas ${canvas}: reset at seq ${at}, this node's log is at ${res?.seq ?? 'none'}`)
        f.epoch = epoch
        deliver!({ type: 'canvas-state', canvas, reset: { epoch, seq: at } })
      }
    } else if (op === 'delete') {
      followed.delete(canvas)
      lag.delete(canvas)
      o.replica.remove(canvas)
      deliver!({ type: 'canvas-state', canvas, deleted: true })
    } else {
      o.log.error({ canvas, op, entry: id }, 'unknown entry in the cluster order (a newer node\'s?): skipped')
      f.pos = id
    }
    done(canvas, id)
    return true
  }

  const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms).unref())

  async function readLoop (): Promise<void> {
    let failures = 0
    for (;;) {
      if (closed) return
      if (fenced !== null || !o.link.up) {
        await sleep(100)
        continue
      }
      const fs = [...followed.values()]
      // the catalog too: a canvas created on another node is followed from its creation on
      const streams = [...fs.map((f) => logKey(f.id)), catalogKey, ...fs.map((f) => f.pos), catalogPos]
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
        if (key.toString() === catalogKey) {
          for (const [id, fields] of entries) {
            const canvas = fieldOf(fields, 'id')?.toString()
            try {
              if (canvas !== undefined && fieldOf(fields, 'op')?.toString() === 'create') await adoptCanvas(canvas)
            } catch (err) {
              // Read again after a pause (catalogPos not moved).
              o.log.warn({ err: (err as Error).message, canvas }, 'taking a canvas created in the cluster failed; retrying')
              await sleep(500)
              break
            }
            catalogPos = id.toString()
          }
          continue
        }
        const f = fs.find((x) => logKey(x.id) === key.toString())
        if (f === undefined) continue
        for (const [id, fields] of entries) {
          if (followed.get(f.id) !== f) break // deleted by an entry before this one
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
      // Creations whose catalog entries this node may have missed (trimmed while it was cut off).
      if (onCanvas !== null) for (const id of await cmd.smembers(setKey)) await adoptCanvas(id)
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
  const lagTimer = setInterval(() => {
    refreshLag().catch(() => {})
    for (const id of retryAdopt) adoptCanvas(id).catch(() => {})
  }, 1000)
  lagTimer.unref()

  return {
    join,
    start (d, c) {
      deliver = d
      onCanvas = c
      readLoop().catch((err: Error) => o.log.error({ err }, 'cluster order reader stopped'))
    },
    append: (canvas, epoch, records, authors) => append(canvas, epoch, records, authors),
    appendAt: (canvas, epoch, records, authors, expect) => append(canvas, epoch, records, authors, String(expect)),
    register,
    create,
    async setState (canvas, change) {
      const frozen = change.frozen === undefined ? '' : change.frozen ? '1' : '0'
      const palette = change.palette === undefined ? '' : change.palette === null ? 'null' : JSON.stringify(change.palette)
      await lifecycle(canvas, 'state', frozen, palette)
    },
    async reset (canvas, epoch, blank) {
      const id = await lifecycle(canvas, 'reset', epoch, blank)
      return { seq: Number(id.slice(0, id.indexOf('-'))) }
    },
    async remove (canvas) { await lifecycle(canvas, 'delete', o.deletedTtlMs ?? 86_400_000, canvas) },
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
