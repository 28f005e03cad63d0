// Region locks: rectangles of a canvas where non-admins may not draw.
// Kept behind LockStore (SQLite here; Redis in a cluster). Every node holds
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

export interface LockStore {
  /** Store a new lock; returns it with its id. */
  add (lock: Omit<Lock, 'id'>): Lock
  /** true when the lock existed */
  remove (canvas: string, id: number): boolean
  list (canvas: string): Lock[]
  /** every lock of every canvas (boot) */
  all (): Lock[]
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
  for (const lock of store.all()) {
    const list = byCanvas.get(lock.canvas)
    if (list === undefined) byCanvas.set(lock.canvas, [lock])
    else list.push(lock)
  }

  fanout.on('locks', function onLocks (_topic, pub): number {
    const { canvas, locks } = pub.event
    if (locks.length === 0) byCanvas.delete(canvas)
    else byCanvas.set(canvas, locks)
    return 0
  })

  /** Tell every node (this one included, synchronously in memory) the canvas's locks now. */
  function announce (canvas: string): void {
    broker.publish(canvasTopic(canvas), { type: 'locks', canvas, locks: store.list(canvas) })
  }

  return {
    /** Lock a region (the caller checked the canvas and the bounds); TOO_MANY_LOCKS (conflict) past the cap. */
    add (canvas: string, region: Region, reason: string | null, by: string): Lock {
      if (store.list(canvas).length >= maxPerCanvas) {
        throw new DomainError('conflict', 'TOO_MANY_LOCKS', `canvas ${canvas} has ${maxPerCanvas} locks already (MAX_LOCKS_PER_CANVAS); lift one first`)
      }
      const lock = store.add({ canvas, ...region, reason, by, at: now() })
      announce(canvas)
      return lock
    },
    /** Lift a lock; LOCK_NOT_FOUND (not_found) when the canvas has no such lock. */
    remove (canvas: string, id: number): void {
      if (!store.remove(canvas, id)) throw new DomainError('not_found', 'LOCK_NOT_FOUND', `canvas ${canvas} has no lock ${id}`)
      announce(canvas)
    },
    list: (canvas: string): Lock[] => store.list(canvas),
    /**
     * Tell every node the canvas's locks as the store has them now. For a
     * deleted canvas (its lock rows go with it: ON DELETE CASCADE) this
     * drops every node's copy, so a canvas created again under the same id
     * starts without locks.
     */
    refresh: announce,
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
