// Per-connection sync state of one canvas, owned by the canvas side (a Map
// by connection id; Connection knows nothing of it), and what keeps each
// client in the canvas's order: the live frame of a beat (as hub.deliver's
// sender), catch-up from the recent commits or the log, snapshots, laggards.
//
// Sync invariant: each attached client's state holds the seq of the last
// change it was sent (SYNCING while its snapshot is on the way). A beat's
// UPDATES frame covers (at, seq]; it goes, as one shared buffer, to the
// clients at `at`. Anyone else (behind, or over its send buffer) is caught up
// from the recent commits, the log, or with a snapshot, once its socket has
// drained. So every client sees "snapshot, then every change in order",
// never a gap or a duplicate.
import type { ConnId, Sender } from '../hub/hub.js'
import { sendFrame, type Receiver } from '../hub/fanout.js'
import type { SharedFrame } from '../connection/connection.js'
import { encodeUpdates } from '../protocol/codec.js'
import type { Canvas } from './canvas.js'
import type { CanvasLog } from './canvas-log.js'
import type { RecentCommits } from './recent-commits.js'
import type { SnapshotCache } from './snapshot-cache.js'
import { PIXEL_RECORD_BYTES as RECORD } from '../protocol/wire.js'

/** SyncState.seq of a client whose snapshot is being compressed or retried. */
const SYNCING = -1

export interface CanvasClient extends Receiver {
  readonly bufferedBytes: number
}

export interface Logger {
  info (obj: object, msg?: string): void
  warn (obj: object, msg?: string): void
  error (obj: object, msg?: string): void
}

/** Counters for metrics and tests, shared by every room. */
export interface RoomStats { lagged: number, catchUpFrames: number, snapshotsSent: number, commitFailures: number }

export interface SyncOptions<C extends CanvasClient> {
  canvas: Canvas
  log: Pick<CanvasLog, 'changesAfter'>
  logger: Logger
  maxReplay: number
  sendBufferBytes: number
  /** largest UPDATES frame, in records */
  frameRecords: number
  stats: RoomStats
  /** UPDATES frames written, live or catch-up, are counted here */
  frames: { count: number }
  /** runs once per attach, right after the client's snapshot or replay was sent */
  onSynced?: (client: C) => void
}

/** A mutable box, so a seq update is a field store (no allocation, whatever the seq). */
class SyncState { constructor (public seq: number) {} }

export class ClientSync<C extends CanvasClient> implements Sender<C, SharedFrame | null> {
  private readonly o: SyncOptions<C>
  private readonly canvas: Canvas
  private readonly recent: RecentCommits
  private readonly snapshots: SnapshotCache
  private readonly sync = new Map<ConnId, SyncState>()
  /** attached by snapshot and not yet sent it (onSynced pending) */
  private readonly firstSync = new WeakSet<C>()
  /** clients whose snapshot is being compressed */
  private readonly syncing = new Set<C>()
  /** clients that missed a frame or a snapshot; retried every beat until caught up */
  private readonly lagging = new Set<C>()
  // The beat being delivered (sendTo reads these: no closure per beat).
  private slot = 0
  private slots = 1
  private hintAt = -1

  constructor (o: SyncOptions<C>, recent: RecentCommits, snapshots: SnapshotCache) {
    this.o = o
    this.canvas = o.canvas
    this.recent = recent
    this.snapshots = snapshots
  }

  /** Start a client's sync: replay from `replayFrom`, or a snapshot (null). */
  attach (client: C, replayFrom: number | null): void {
    const state = new SyncState(replayFrom ?? SYNCING)
    this.sync.set(client.id, state)
    if (replayFrom !== null) {
      this.catchUp(client, state)
      this.o.onSynced?.(client)
    } else {
      this.firstSync.add(client)
      this.sendSnapshot(client, state)
    }
  }

  /**
   * A reset: the client's state is from an epoch that is gone, so it gets a
   * SNAPSHOT of the new one (a new state: a snapshot still being compressed
   * for the old epoch finds its state replaced and is dropped).
   */
  resync (client: C): void {
    if (!this.sync.has(client.id)) return
    const state = new SyncState(SYNCING)
    this.sync.set(client.id, state)
    this.lagging.delete(client)
    this.sendSnapshot(client, state)
  }

  detach (client: C): void {
    this.sync.delete(client.id)
    this.syncing.delete(client)
    this.lagging.delete(client)
  }

  seqOf (client: C): number | null | undefined {
    const s = this.sync.get(client.id)?.seq
    return s === SYNCING ? null : s
  }

  /** The beat hub.deliver is about to send: its slot, and the seq its clients in step are at. */
  beat (slot: number, slots: number, hintAt: number): void {
    this.slot = slot
    this.slots = slots
    this.hintAt = hintAt
  }

  /** hub.deliver's sender: the live frame to one subscriber, or into the laggards. */
  sendTo (client: C, hint: SharedFrame | null): boolean {
    if (this.slots > 1 && client.id % this.slots !== this.slot) return false
    const state = this.sync.get(client.id)
    const seq = this.canvas.seq
    // not attached here, or nothing new; laggards are caught up by retryLagging (a snapshot past maxReplay)
    if (state === undefined || state.seq === seq || (this.lagging.size > 0 && this.lagging.has(client))) return false
    if (state.seq === SYNCING) {
      if (!this.syncing.has(client)) this.markLagging(client)
      return false
    }
    const frame = state.seq === this.hintAt ? hint : this.recent.frameFrom(state.seq, seq)
    if (frame !== null && client.bufferedBytes <= this.o.sendBufferBytes && sendFrame(client, frame)) {
      state.seq = seq
      return true
    }
    this.markLagging(client)
    return false
  }

  /** Catch up the laggards whose socket has drained (one by one: each is at its own seq). */
  retryLagging (): void {
    if (this.lagging.size === 0) return
    for (const client of this.lagging) {
      if (client.closed) { this.lagging.delete(client); continue }
      if (client.bufferedBytes > this.o.sendBufferBytes) continue
      this.lagging.delete(client)
      const state = this.sync.get(client.id)
      if (state === undefined) continue
      if (state.seq === SYNCING) this.sendSnapshot(client, state)
      else this.catchUp(client, state)
    }
  }

  private markLagging (client: C): void {
    if (!this.lagging.has(client)) this.o.stats.lagged++
    this.lagging.add(client)
  }

  private sendSnapshot (client: C, state: SyncState): void {
    state.seq = SYNCING
    this.syncing.add(client)
    this.snapshots.get().then((snap) => {
      this.syncing.delete(client)
      // re-check after the await: the client may have gone meanwhile
      if (client.closed || this.sync.get(client.id) !== state) return
      if (!client.send(snap.frame)) return this.markLagging(client) // still SYNCING: retried with a snapshot
      this.o.stats.snapshotsSent++
      state.seq = snap.seq
      this.catchUp(client, state)
      if (this.firstSync.delete(client)) this.o.onSynced?.(client)
    }, (err: Error) => {
      this.syncing.delete(client)
      this.o.logger.error({ err, canvas: this.canvas.id }, 'snapshot failed')
      this.markLagging(client)
    })
  }

  /**
   * Send everything from the client's seq to the canvas's: one frame out of
   * memory when it is there (shared with whoever else is at that seq: a slot
   * change or a burst of laggards must not cost a log read each), else out
   * of the log, or a snapshot when that is more than maxReplay. Synchronous,
   * so nothing is applied in between. Leaves the client at the canvas's seq,
   * or, when its send buffer filled up on the way, at the last frame it was
   * sent and lagging.
   */
  private catchUp (client: C, state: SyncState): void {
    const { canvas, o } = this
    if (state.seq === SYNCING || client.closed) return
    let at = state.seq
    if (canvas.seq - at > o.maxReplay) return this.sendSnapshot(client, state)
    if (at === canvas.seq) return
    const frame = this.recent.frameFrom(at, canvas.seq)
    if (frame !== null) {
      if (sendFrame(client, frame)) {
        o.stats.catchUpFrames++
        o.frames.count++
        state.seq = canvas.seq
      } else {
        this.markLagging(client)
      }
      return
    }
    while (at < canvas.seq) {
      const records = o.log.changesAfter(canvas.id, at, Math.min(o.frameRecords, canvas.seq - at))
      if (records.length === 0) throw new Error(`canvas ${canvas.id}: log has no change after ${at}`)
      const next = at + records.length / RECORD
      if (!client.send(encodeUpdates(next, records))) {
        this.markLagging(client)
        break
      }
      o.stats.catchUpFrames++
      o.frames.count++
      at = next
    }
    state.seq = at
  }
}
