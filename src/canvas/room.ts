// A canvas's room: the canvas in memory (pixels, seq), its recent commits,
// its frame and snapshot caches, and its clients' sync (client-sync.ts).
//
// Apply: a committed batch (a CommitEvent from the broker) covers the seqs
// (from, to], from exclusive: it holds changes from + 1 .. to. It is applied
// only when `from === seq` (it starts right after what the room has); a
// batch already applied (`to <= seq`) or of another epoch is ignored;
// anything else (a gap, or an overlap) is caught up from the log, which holds
// every change, up to `to`. So `seq` only follows the log, without a hole.
import type { CommitEvent } from '../broker/broker.js'
import { canvasTopic } from '../broker/broker.js'
import type { Hub } from '../hub/hub.js'
import { sendFrame } from '../hub/fanout.js'
import type { SharedFrame } from '../connection/connection.js'
import type { CanvasStore } from '../persistence/canvas-store.js'
import type { MeterCounts } from '../metrics.js'
import type { Canvas } from './canvas.js'
import { ClientSync, type CanvasClient, type SyncOptions } from './client-sync.js'
import { RecentCommits } from './recent-commits.js'
import { SnapshotCache, type SnapshotEntry } from './snapshot-cache.js'
import { PIXEL_RECORD_BYTES as RECORD } from '../protocol/wire.js'

export type { CanvasClient, Logger, RoomStats } from './client-sync.js'

export interface RoomOptions<C extends CanvasClient> extends SyncOptions<C> {
  hub: Hub<C>
  store: Pick<CanvasStore, 'saveSnapshot'>
  snapshotEvery: number
  /** the most slots of the adaptive tick */
  maxSlots: number
  counts: Pick<MeterCounts, 'resumes' | 'pixelsApplied'>
}

export class Room<C extends CanvasClient> {
  readonly canvas: Canvas
  readonly topic: string
  private readonly o: RoomOptions<C>
  private readonly recent: RecentCommits
  private readonly snapshots: SnapshotCache
  private readonly clients: ClientSync<C>
  /** a batch was applied since the last deliver; then the beat it was delivered on */
  private dirty = false
  private lastCommitBeat = -Infinity
  /** per slot, the seq its clients in step were last brought to (-1: unknown since the slots changed) */
  private readonly slotSeq: number[]
  private slotsSeen = 1

  constructor (o: RoomOptions<C>) {
    this.o = o
    this.canvas = o.canvas
    this.topic = canvasTopic(o.canvas.id)
    this.recent = new RecentCommits(o.frameRecords, o.maxSlots)
    this.snapshots = new SnapshotCache(o.canvas)
    this.clients = new ClientSync(o, this.recent, this.snapshots)
    this.slotSeq = new Array<number>(o.maxSlots).fill(-1)
  }

  /** Apply a committed batch (see the top): true when the room moved. */
  apply (c: CommitEvent): boolean {
    const canvas = this.canvas
    if (c.epoch !== canvas.epoch || c.to <= canvas.seq) return false
    const before = canvas.seq
    if (c.from === canvas.seq) this.paint(c.from, c.to, c.pixels)
    else this.catchUpFromLog(c.to)
    this.o.counts.pixelsApplied += canvas.seq - before
    this.dirty = true
    this.maybeStoreSnapshot()
    return true
  }

  private paint (from: number, to: number, records: Buffer): void {
    this.canvas.apply(records)
    this.canvas.seq = to
    this.recent.remember(from, to, records)
  }

  private catchUpFromLog (to: number): void {
    const { canvas, o } = this
    while (canvas.seq < to) {
      const records = o.log.changesAfter(canvas.id, canvas.seq, Math.min(o.frameRecords, to - canvas.seq))
      if (records.length === 0) throw new Error(`canvas ${canvas.id}: log has no change after ${canvas.seq}`)
      this.paint(canvas.seq, canvas.seq + records.length / RECORD, records)
    }
  }

  /** Subscribe a client and start its sync, by replay from `replayFrom` or by snapshot. */
  attach (client: C, replayFrom: number | null): boolean {
    if (!this.o.hub.subscribe(client, this.topic)) return false
    this.o.counts.resumes[replayFrom !== null ? 'replay' : 'snapshot']++
    this.clients.attach(client, replayFrom)
    return true
  }

  /** A client leaving: forget it everywhere this room holds it. */
  detach (client: C): void { this.clients.detach(client) }

  /** The seq of the last change the client was sent; null while syncing; undefined when not attached. */
  seqOf (client: C): number | null | undefined { return this.clients.seqOf(client) }

  snapshot (): Promise<SnapshotEntry> { return this.snapshots.get() }

  /**
   * One beat: send this beat's slot of clients in sync (all of them when
   * slots is 1) what they have not seen, one frame for all who are at the
   * same seq. Nothing to do once every slot has been visited since the last
   * commit (two rotations of the most slots cover any change of slots).
   */
  deliver (slot: number, slots: number, beats: number): void {
    if (this.dirty) {
      this.lastCommitBeat = beats
      this.dirty = false
    }
    if (beats - this.lastCommitBeat > 2 * this.o.maxSlots) return
    if (slots !== this.slotsSeen) {
      this.slotSeq.fill(-1)
      this.slotsSeen = slots
    }
    const seq = this.canvas.seq
    const at = this.slotSeq[slot]
    // Built before the loop: the frame of the slot's clients in step. Anyone
    // at another seq gets the frame for its seq from the same cache.
    const frame = at >= 0 && at < seq ? this.recent.frameFrom(at, seq) : null
    this.clients.beat(slot, slots, at)
    this.o.frames.count += this.o.hub.deliver(this.topic, frame, this.clients)
    this.slotSeq[slot] = seq
  }

  /**
   * The canvas was just reset (Canvas.resetTo): drop what belongs to the old
   * epoch (recent commits, cached frames and snapshot) and resync every
   * client: `message` (the `canvas` message with the new epoch) first, then
   * a SNAPSHOT of the blank canvas. The one loop over the clients is the hub's.
   */
  reset (message: SharedFrame): number {
    this.recent.clear()
    this.snapshots.invalidate()
    this.slotSeq.fill(-1)
    this.dirty = false
    return this.o.hub.deliver(this.topic, message, { sendTo: this.resyncOne })
  }

  private readonly resyncOne = (client: C, message: SharedFrame): boolean => {
    sendFrame(client, message, true)
    this.clients.resync(client)
    return true
  }

  /** Catch up the clients that lag and whose socket has drained. */
  retryLagging (): void { this.clients.retryLagging() }

  private maybeStoreSnapshot (): void {
    const canvas = this.canvas
    if (canvas.seq - canvas.storedSnapshotSeq < this.o.snapshotEvery) return
    canvas.storedSnapshotSeq = canvas.seq // claim it now so one batch starts one save
    const epoch = canvas.epoch
    this.snapshots.get().then((snap) => {
      // Reset meanwhile: this picture is the old epoch's and would replace the blank one stored at the same seq.
      if (canvas.epoch !== epoch) return
      this.o.store.saveSnapshot(canvas.id, snap.seq, snap.deflated)
    }).catch((err: Error) => {
      canvas.storedSnapshotSeq = 0
      this.o.logger.warn({ err, canvas: canvas.id }, 'storing snapshot failed; will retry')
    })
  }
}
