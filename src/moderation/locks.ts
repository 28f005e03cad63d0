// Region locks: rectangles of a canvas where non-admins may not draw.
// Kept behind LockStore (SQLite for a node alone; Redis in a cluster:
// src/broker/cluster-state.ts, where each change carries a version). Every node holds
// the locks of its canvases in memory, because the check runs on the draw
// path (10,000+ ops/s): a change publishes the canvas's whole lock list as a
// `locks` event on the canvas topic, and each node's fan-out replaces its
// copy with it. A canvas without locks has no entry, so the check is one
// Map lookup (a Map that is empty most of the time).
import { canvasTopic, type Broker, type LockEntry } from '../broker/broker.js'
import type { Fanout } from '../hub/fanout.js'
import type { DrawOp } from '../protocol/codec.js'
import { PIXEL_RECORD_BYTES as RECORD } from '../protocol/wire.js'
import { DomainError } from '../domain-error.js'
import type { Region } from '../persistence/canvas-store.js'

/** A lock is what the `locks` broker event carries: a plain value any node can hold. */
export type Lock = LockEntry

/** What a change left: the canvas's locks now, and (cluster) the version of the change. */
export interface LockChange { lock?: Lock, locks: Lock[], version?: number }

/** Every canvas's locks, with the version of each canvas's last change and of the whole (cluster; 0 in SQLite). */
export interface LockSnapshot { version: number, byCanvas: Map<string, { version: number, locks: Lock[] }> }

/**
 * Where locks are kept: SQLite (synchronous) for a node alone, Redis
 * (src/broker/cluster-state.ts, asynchronous) in a cluster. Writes answer
 * the canvas's whole list after them, so the announcement is what the
 * store holds.
 */
export interface LockStore {
  /** Store a new lock unless the canvas has `max` already (TOO_MANY_LOCKS, conflict). */
  add (lock: Omit<Lock, 'id'>, max: number): LockChange | Promise<LockChange>
  /** null when there was no such lock; `*`: every lock of the canvas */
  remove (canvas: string, id: number | '*'): LockChange | null | Promise<LockChange | null>
  /** every lock of every canvas (boot, and after Redis was away) */
  all (): LockSnapshot | Promise<LockSnapshot>
}

export interface LocksOptions {
  store: LockStore
  broker: Pick<Broker, 'publish'>
  fanout: Pick<Fanout, 'on'>
  maxPerCanvas: number
  now?: () => number
}

/** Whether a draw op touches a rectangle. */
function touches (op: DrawOp, r: Region): boolean {
  const x1 = r.x + r.w
  const y1 = r.y + r.h
  switch (op.kind) {
    case 'rect':
      return op.x < x1 && op.x + op.w > r.x && op.y < y1 && op.y + op.h > r.y
    case 'pixels': {
      const b = op.records
      for (let off = 0; off < b.length; off += RECORD) {
        const x = (b[off] << 8) | b[off + 1]
        const y = (b[off + 2] << 8) | b[off + 3]
        if (x >= r.x && x < x1 && y >= r.y && y < y1) return true
      }
      return false
    }
    default:
      return false
  }
}

export function createLocks ({ store, broker, fanout, maxPerCanvas, now = Date.now }: LocksOptions) {
  /** this node's copy: only canvases with at least one lock */
  const byCanvas = new Map<string, Lock[]>()
  /** cluster: the version of each canvas's copy (an older event is ignored); empty with SQLite */
  const versions = new Map<string, number>()

  /** Replace the whole copy with a store's snapshot; a canvas changed by a newer event meanwhile keeps that one. */
  function install (snap: LockSnapshot): void {
    for (const canvas of new Set([...byCanvas.keys(), ...versions.keys()])) {
      if (!snap.byCanvas.has(canvas) && (versions.get(canvas) ?? 0) <= snap.version) {
        byCanvas.delete(canvas)
        versions.delete(canvas)
      }
    }
    for (const [canvas, { version, locks }] of snap.byCanvas) take(canvas, locks, snap.version > 0 ? version : undefined)
  }

  /** Take a canvas's list unless this node holds a newer one. false: it was older. */
  function take (canvas: string, locks: Lock[], version: number | undefined): boolean {
    if (version !== undefined) {
      if ((versions.get(canvas) ?? 0) > version) return false
      versions.set(canvas, version)
    }
    if (locks.length === 0) byCanvas.delete(canvas)
    else byCanvas.set(canvas, locks)
    return true
  }

  const first = store.all()
  if (!(first instanceof Promise)) install(first)
  else first.then(install, () => {}) // the plugin's reload() awaits the load and reports its failure

  fanout.on('locks', function onLocks (_topic, pub): number {
    const { canvas, locks, version } = pub.event
    take(canvas, locks, version)
    return 0
  })

  /** Tell every node (this one included, synchronously in memory) the canvas's locks after a change. */
  function announce (canvas: string, change: LockChange): void {
    broker.publish(canvasTopic(canvas), { type: 'locks', canvas, locks: change.locks, ...(change.version !== undefined ? { version: change.version } : {}) })
  }

  function removed (canvas: string, id: number | '*', change: LockChange | null): void {
    if (change === null) {
      if (id === '*') return
      throw new DomainError('not_found', 'LOCK_NOT_FOUND', `canvas ${canvas} has no lock ${id}`)
    }
    announce(canvas, change)
  }

  return {
    /**
     * Lock a region (the caller checked the canvas and the bounds);
     * TOO_MANY_LOCKS (conflict) past the cap. Synchronous on SQLite, a
     * promise on Redis.
     */
    add (canvas: string, region: Region, reason: string | null, by: string): Lock | Promise<Lock> {
      const res = store.add({ canvas, ...region, reason, by, at: now() }, maxPerCanvas)
      const done = (change: LockChange): Lock => { announce(canvas, change); return change.lock! }
      return res instanceof Promise ? res.then(done) : done(res)
    },
    /** Lift a lock; LOCK_NOT_FOUND (not_found) when the canvas has no such lock. */
    remove (canvas: string, id: number): void | Promise<void> {
      const res = store.remove(canvas, id)
      return res instanceof Promise ? res.then((c) => removed(canvas, id, c)) : removed(canvas, id, res)
    },
    /** Every lock of a canvas (a deleted one's, in a cluster), gone on every node. */
    async clear (canvas: string): Promise<void> {
      removed(canvas, '*', await store.remove(canvas, '*'))
    },
    list: (canvas: string): Lock[] => byCanvas.get(canvas) ?? [],
    /**
     * Tell every node the canvas's locks as the store has them now. For a
     * deleted canvas (its lock rows go with it: ON DELETE CASCADE) this
     * drops every node's copy, so a canvas created again under the same id
     * starts without locks. (A cluster clears them when the canvas is deleted.)
     */
    refresh (canvas: string): void {
      const snap = store.all()
      if (snap instanceof Promise) return
      announce(canvas, { locks: snap.byCanvas.get(canvas)?.locks ?? [] })
    },
    /** Load every lock from the store (cluster: at boot and after Redis was away; what the bus lost is made good). */
    async reload (): Promise<void> { install(await store.all()) },
    /**
     * The first lock a draw op on `canvas` touches, or undefined. The hot
     * path: without locks on the canvas, one Map lookup.
     */
    blocking (canvas: string, op: DrawOp): Lock | undefined {
      const locks = byCanvas.get(canvas)
      if (locks === undefined) return undefined
      for (const lock of locks) if (touches(op, lock)) return lock
      return undefined
    }
  }
}

export type Locks = ReturnType<typeof createLocks>

/** The JSON view of a lock (REST). */
export function lockView (lock: Lock) {
  const { id, canvas, x, y, w, h, reason, by, at } = lock
  return { id, canvas, x, y, w, h, reason, by, at: new Date(at).toISOString() }
}
