// Canvases in one process, cut at the commit point:
//
//   draw → intake (pending batch)                                   intake.ts
//   beat → intake.take → log.commit → broker.publish(commit)        canvas-log.ts, src/broker
//        → fan-out → room.apply (only in order; else from the log)  room.ts
//   beat → room.deliver: hub.deliver(canvas topic, UPDATES frame), then laggards
//
// A batch is shown only once the log has it: a failed commit is answered
// UNAVAILABLE to its painters and applied nowhere. The beat itself, and how
// many slots of clients a beat sends, is the adaptive tick (tick-scheduler.ts).
// Over 250 lines: it is the composition of those modules plus the beat's
// driver (CPU time and frames per beat); each part it composes is its own.
import { promisify } from 'node:util'
import { deflate } from 'node:zlib'
import type { Broker, CanvasStateEvent, CommitEvent, Sequencer } from '../broker/broker.js'
import { canvasTopic } from '../broker/broker.js'
import { sendFrame, toEveryoneMust, type Fanout } from '../hub/fanout.js'
import type { Hub } from '../hub/hub.js'
import { PIXEL_RECORD_BYTES as RECORD, rectRecords, type DrawOp } from '../protocol/codec.js'
import { encodeError, protocolError, type ProtocolError } from '../protocol/errors.js'
import { encodeJson } from '../protocol/messages.js'
import { SharedFrame } from '../connection/connection.js'
import type { CanvasId, CanvasRow, CanvasStore } from '../persistence/canvas-store.js'
import { bump, noopMeter, type Meter } from '../metrics.js'
import { DomainError } from '../domain-error.js'
import type { StorageBreaker } from '../persistence/storage-breaker.js'
import { Canvas, blankPixels, newEpoch, rebuildCanvas } from './canvas.js'
import type { CanvasLog, CommitRange } from './canvas-log.js'
import { canvasHello, paletteView, type CanvasStateStore } from './canvas-state.js'
import { CommitBarrier, type SyncedReply } from './commit-barrier.js'
import { Intake, type Batch } from './intake.js'
import { PixelDelay } from './pixel-delay.js'
import { createPurger } from './purge.js'
import { Room, type CanvasClient, type Logger, type RoomStats } from './room.js'
import { TickScheduler, type TickConfig } from './tick-scheduler.js'

export type { CanvasClient, Logger }
export { canvasTopic }

/** The tick (TICK_MS, TICK_MAX_MS, TICK_FRAME_BUDGET): see TickConfig; unset max and budget: a fixed tick. */
export interface CanvasServiceOptions<C extends CanvasClient> extends TickConfig {
  /** canvases, boot snapshots, stored snapshots */
  store: Pick<CanvasStore, 'list' | 'insert' | 'latestSnapshot' | 'saveSnapshot'> & CanvasStateStore & Partial<Pick<CanvasStore, 'logFloor'>>
  /** where batches are committed and numbered (the only seq writer) */
  canvasLog: CanvasLog
  hub: Hub<C>
  broker: Broker
  fanout: Fanout
  log: Logger
  /**
   * Every frame written so far, to every client (a counter that only grows:
   * the app's, Hub.frames). When given, the frame budget counts all of them
   * between two beats (presence, snapshots, ...), not only UPDATES.
   */
  framesWritten?: () => number
  maxPendingPixels: number
  /** syncs (commit barrier) waiting per connection; beyond, RATE_LIMITED (default 16) */
  maxPendingSyncs?: number
  maxReplay: number
  sendBufferBytes: number
  snapshotEvery: number
  defaultCanvas: { id: CanvasId, width: number, height: number }
  /** runs at the end of every beat (presence and cursors ride the same tick); its CPU counts as the beat's sending */
  afterFlush?: () => void
  /**
   * runs after each timed beat, once its frames are written and its CPU
   * time accounted: storage upkeep (the WAL checkpoint), which like the
   * commit must not stretch the tick
   */
  afterBeat?: () => void
  /** runs once per attach, right after the client's snapshot or replay was sent */
  onSynced?: (client: C) => void
  /** after each commit attempt: whose draws were committed (ok) or refused by storage (lifecycle: 1013 when it lasts) */
  afterCommit?: (runs: ReadonlyArray<{ readonly connId: number }>, ok: boolean) => void
  /** counts and timings for metrics (default: none) */
  meter?: Meter
  /**
   * The storage breaker (src/persistence/storage-breaker.ts): told of every
   * commit's outcome; while it is open draws are refused at intake and no
   * commit is tried (default: none, every tick tries).
   */
  storage?: Pick<StorageBreaker, 'available' | 'error' | 'retryAfterMs' | 'failed' | 'succeeded'>
  /** close a client of a deleted canvas (4404); default: nothing (tests) */
  closeDeleted?: (client: C) => void
}

const deflateAsync = promisify(deflate)

/**
 * What the service holds per canvas. Cluster mode: `appending`, a batch is on
 * its way to the cluster order; `showing`, a delivery of what the order
 * handed back is scheduled (showSoon).
 */
interface Lane<C extends CanvasClient> { room: Room<C>, intake: Intake, delay: PixelDelay, barrier: CommitBarrier, appending: boolean, showing: boolean }

export function createCanvasService<C extends CanvasClient> (opts: CanvasServiceOptions<C>) {
  const { store, hub, broker } = opts
  // Cluster mode: batches are appended to the cluster's order, and come
  // back (to every node) through the broker; undefined: the local log commits.
  const sequencer = broker.sequencer
  const log = opts.canvasLog
  const logger = opts.log
  const meter = opts.meter ?? noopMeter
  const counts = meter.counts
  const lanes = new Map<CanvasId, Lane<C>>()
  const tick = new TickScheduler(opts)
  const purger = createPurger({ store, logger })
  // Largest UPDATES frame, live or catch-up, in records: half a send buffer,
  // so one frame can never carry a connection far past its cap. A tick with
  // more pending commits this much and leaves the rest for the next tick:
  // still one frame per canvas per tick (contract §4).
  const frameRecords = Math.max(1, Math.floor(opts.sendBufferBytes / 2 / RECORD))
  /** counters for metrics and tests */
  const stats: RoomStats = { lagged: 0, catchUpFrames: 0, snapshotsSent: 0, commitFailures: 0 }
  /** UPDATES frames written this beat (the frame budget's count when framesWritten is not given) */
  const beatFrames = { count: 0 }
  /** beats flushed so far */
  let beats = 0
  let timer: NodeJS.Timeout | null = null

  opts.fanout.on('commit', function onCommit (_topic, pub): number {
    const lane = lanes.get(pub.event.canvas)
    if (lane === undefined) return 0
    lane.room.apply(pub.event)
    if (sequencer !== undefined) showSoon(lane)
    return 0
  })
  opts.fanout.on('canvas-state', function onCanvasState (_topic, pub): number {
    const lane = lanes.get(pub.event.canvas)
    return lane === undefined ? 0 : applyState(lane, pub.event)
  })

  function addLane (canvas: Canvas): void {
    const room = new Room<C>({
      canvas,
      hub,
      log,
      store,
      logger,
      frameRecords,
      stats,
      frames: beatFrames,
      counts,
      maxReplay: opts.maxReplay,
      sendBufferBytes: opts.sendBufferBytes,
      snapshotEvery: opts.snapshotEvery,
      maxSlots: tick.maxSlots,
      onSynced: opts.onSynced
    })
    const barrier = new CommitBarrier(opts.maxPendingSyncs ?? 16)
    lanes.set(canvas.id, { room, intake: new Intake(opts.maxPendingPixels), delay: new PixelDelay(meter), barrier, appending: false, showing: false })
    // The room follows every commit of its canvas, whether clients watch it or not.
    broker.subscribe(room.topic)
  }

  function load (): void {
    for (const row of store.list()) {
      const canvas = rebuildCanvas(row, store.latestSnapshot(row.id), log, frameRecords)
      // A replica rebuilt from a cluster snapshot has no log before it: no replay from there.
      canvas.logFloor = store.logFloor?.(row.id, canvas.seq) ?? 0
      addLane(canvas)
    }
    for (const id of store.deleting()) purger.start(id)
    const d = opts.defaultCanvas
    if (!lanes.has(d.id)) create(d.id, d.width, d.height)
  }

  function create (id: CanvasId, width: number, height: number, palette: number[] | null = null): Canvas {
    const row: CanvasRow = { id, width, height, epoch: newEpoch(), seq: 0, createdAt: Date.now(), palette }
    try {
      store.insert(row)
    } catch (err) {
      // The id's row is still there: a deleted canvas being purged.
      if ((err as { code?: string }).code === 'SQLITE_CONSTRAINT_PRIMARYKEY') throw new DomainError('conflict', 'CANVAS_EXISTS', `canvas ${id} was deleted and is still being purged; try again shortly`)
      throw err
    }
    const canvas = new Canvas(row, blankPixels(width, height))
    addLane(canvas)
    sequencer?.register(row)
    logger.info({ canvas: id, width, height }, 'canvas created')
    return canvas
  }

  /**
   * UNAVAILABLE while the storage breaker is open: refused at intake, before
   * any budget is spent, never accepted only to fail at the commit.
   */
  function storageRefusal (): ProtocolError | null {
    const storage = opts.storage
    if (storage === undefined || storage.available) return null
    return protocolError('UNAVAILABLE', 'storage unavailable; the change was not applied', Math.max(opts.tickMs, storage.retryAfterMs))
  }

  /**
   * Cluster mode: what Redis refused, as the API answers it: the canvas
   * gone meanwhile (404), Redis away or the order fenced (503, nothing
   * changed; the caller may retry).
   */
  async function inCluster<T> (p: Promise<T>): Promise<T> {
    try {
      return await p
    } catch (err) {
      if (err instanceof DomainError) throw err
      const msg = (err as Error).message
      if (/^DELETED/.test(msg)) throw new DomainError('not_found', 'CANVAS_NOT_FOUND', 'the canvas was deleted')
      logger.warn({ err: msg }, 'a lifecycle change was refused by the cluster order')
      throw new DomainError('unavailable', 'UNAVAILABLE', `the cluster order (Redis) did not take the change: ${msg}; nothing was changed`, 1000)
    }
  }

  function requireLane (id: CanvasId): Lane<C> {
    const lane = lanes.get(id)
    if (lane === undefined) throw new DomainError('not_found', 'CANVAS_NOT_FOUND', `no canvas ${id}`)
    return lane
  }

  /** Store a state change, then publish it: every node (this one in the same stack, in memory) applies it. */
  function publishState (event: CanvasStateEvent): void {
    broker.publish(canvasTopic(event.canvas), event)
  }

  /**
   * Freeze or unfreeze, set or drop the palette (undefined: unchanged):
   * stored, then published as one event, so clients get one `canvas` message.
   */
  function update (id: CanvasId, change: { frozen?: boolean, palette?: number[] | null }): void | Promise<void> {
    requireLane(id)
    // Cluster mode: an entry of the canvas's order; every node (this one
    // before this resolves) stores and applies it when it reads it.
    if (sequencer !== undefined) return inCluster(sequencer.setState(id, change))
    const event: CanvasStateEvent = { type: 'canvas-state', canvas: id }
    if (change.frozen !== undefined) {
      if (!store.setFrozen(id, change.frozen)) throw new DomainError('not_found', 'CANVAS_NOT_FOUND', `no canvas ${id}`)
      event.frozen = change.frozen
    }
    if (change.palette !== undefined) {
      if (!store.setPalette(id, change.palette)) throw new DomainError('not_found', 'CANVAS_NOT_FOUND', `no canvas ${id}`)
      event.palette = change.palette
    }
    publishState(event)
  }

  /**
   * A blank canvas under a new epoch, numbered on from the current seq
   * (see migration 006): stored with its blank snapshot, then published.
   */
  async function reset (id: CanvasId): Promise<{ epoch: string, seq: number }> {
    const { canvas } = requireLane(id).room
    const blank = await deflateAsync(blankPixels(canvas.width, canvas.height))
    requireLane(id) // deleted while compressing?
    const epoch = newEpoch()
    // Cluster mode: an entry of the order (with the blank snapshot): every
    // node starts the new epoch at the same seq, this one before this resolves.
    if (sequencer !== undefined) return { epoch, seq: (await inCluster(sequencer.reset(id, epoch, blank))).seq }
    const res = store.reset(id, epoch, blank)
    if (res === undefined) throw new DomainError('not_found', 'CANVAS_NOT_FOUND', `no canvas ${id}`)
    publishState({ type: 'canvas-state', canvas: id, reset: { epoch, seq: res.seq } })
    return { epoch, seq: res.seq }
  }

  /** Delete a canvas: its rows go, then every node closes its clients (4404) and drops it. `main` stays (conflict). */
  function remove (id: CanvasId): void | Promise<void> {
    requireLane(id)
    if (id === opts.defaultCanvas.id) throw new DomainError('conflict', 'CANVAS_PROTECTED', `canvas ${id} is the default canvas and cannot be deleted`)
    // Cluster mode: an entry of the order; every node closes the canvas's
    // clients (4404) and purges it when it reads it (applyState).
    if (sequencer !== undefined) return inCluster(sequencer.remove(id))
    if (!store.remove(id)) throw new DomainError('not_found', 'CANVAS_NOT_FOUND', `no canvas ${id}`)
    publishState({ type: 'canvas-state', canvas: id, deleted: true })
    purger.start(id)
  }

  /** The closing sender of a deleted canvas: the `canvas` message, then 4404. */
  const toDeleted = {
    sendTo (client: C, frame: SharedFrame): boolean {
      sendFrame(client, frame, true)
      opts.closeDeleted?.(client)
      return true
    }
  }

  /**
   * A stored state change, on this node: the canvas in memory, then its
   * clients told by one `canvas` message (built once). Pending draws of a
   * reset or deleted canvas are dropped: they were drawn on a picture that
   * is gone (their syncs settle as refused).
   */
  function applyState (lane: Lane<C>, e: CanvasStateEvent): number {
    const { room } = lane
    const { canvas } = room
    if (e.deleted === true) {
      dropPending(lane)
      const n = hub.deliver(room.topic, new SharedFrame(encodeJson({ type: 'canvas', canvas: canvas.id, deleted: true })), toDeleted)
      lanes.delete(canvas.id)
      broker.unsubscribe(room.topic)
      // Cluster mode: the order stored the deletion on this node; its purge is this node's own.
      if (sequencer !== undefined) purger.start(canvas.id)
      logger.info({ canvas: canvas.id, clients: n }, 'canvas deleted')
      return n
    }
    if (e.reset !== undefined) {
      dropPending(lane)
      canvas.resetTo(e.reset.epoch, e.reset.seq)
      const n = room.reset(new SharedFrame(encodeJson({ type: 'canvas', canvas: canvas.id, ...canvasHello(canvas), id: undefined })))
      logger.info({ canvas: canvas.id, epoch: canvas.epoch, seq: canvas.seq, clients: n }, 'canvas reset')
      return n
    }
    const msg: Record<string, unknown> = { type: 'canvas', canvas: canvas.id }
    if (e.frozen !== undefined) msg.frozen = canvas.frozen = e.frozen
    if (e.palette !== undefined) {
      canvas.palette = e.palette === null ? null : new Set(e.palette)
      msg.palette = paletteView(canvas.palette)
    }
    return hub.deliver(room.topic, new SharedFrame(encodeJson(msg)), toEveryoneMust)
  }

  /** Forget the lane's pending draws: their painters' syncs settle (refused), nothing is committed. */
  function dropPending (lane: Lane<C>): void {
    const batch = lane.intake.take()
    if (batch === null) return
    const pixels = batch.records.length / RECORD
    lane.delay.dropped(pixels)
    lane.barrier.refused(batch.runs)
  }

  /** Queue a validated draw for the next tick. Returns an error to send, or null. */
  function draw (canvas: Canvas, op: DrawOp, user: string, connId: number, name?: string): ProtocolError | null {
    const refused = storageRefusal()
    if (refused !== null) return refused
    const records = op.kind === 'pixels'
      ? op.records
      : op.kind === 'rect' ? rectRecords(op.x, op.y, op.w, op.h, op.color) : null
    const lane = lanes.get(canvas.id)
    if (records === null || records.length === 0 || lane === undefined) return null
    if (!lane.intake.enqueue(records, user, connId, name)) {
      return protocolError('UNAVAILABLE', 'canvas is busy; the change was not applied', opts.tickMs)
    }
    lane.barrier.drew(connId, records.length / RECORD)
    lane.delay.arrived(records.length / RECORD)
    return null
  }

  /** Decide before `hello` whether `since` can be served by an exact replay. */
  function canReplay (canvas: Canvas, since: number | undefined, epoch: string | undefined): boolean {
    return since !== undefined && epoch === canvas.epoch && since <= canvas.seq && canvas.seq - since <= opts.maxReplay && since >= canvas.logFloor
  }

  /**
   * One beat: commit every canvas's pending batch, then send this beat's
   * slot of clients what they have not seen yet (every client when the
   * tick is not stretched), catch laggards up, then presence.
   */
  function flush (): void {
    const start = performance.now()
    const slot = tick.slot
    for (const lane of lanes.values()) flushLane(lane, slot)
    beats++
    opts.afterFlush?.()
    meter.observe('tick', (performance.now() - start) / 1000)
  }

  function flushLane (lane: Lane<C>, slot: number): void {
    const { intake, delay } = lane
    // Cluster mode: the batch goes to the cluster's order (Redis), not to
    // this node's SQLite; the storage breaker guards the replica's writes.
    if (sequencer !== undefined) appendLane(lane, sequencer)
    // Breaker open: what the intake still holds (accepted before the failure)
    // is refused, not committed; no commit is tried until a probe succeeds.
    const batch = sequencer === undefined ? intake.take(opts.storage?.available === false ? Number.MAX_SAFE_INTEGER : frameRecords) : null
    if (batch !== null) {
      const pixels = batch.records.length / RECORD
      if (opts.storage?.available === false) {
        refuse(lane, batch)
        delay.dropped(pixels)
        return answerSyncs(lane)
      }
      if (commit(lane, batch) === null) {
        delay.dropped(pixels)
        return answerSyncs(lane)
      }
      // every slot has it after this beat and the slots - 1 that follow
      delay.committed(pixels, beats + tick.slots - 1)
    }
    show(lane, slot, tick.slots)
  }

  /**
   * The tail of a beat (and of showSoon): send `slot` of `slots` what it has
   * not seen yet, catch laggards up, then answer the syncs that settled, so
   * a `synced` always follows the UPDATES that carry its commit.
   */
  function show (lane: Lane<C>, slot: number, slots: number): void {
    lane.room.deliver(slot, slots, beats)
    lane.delay.delivered(beats, slots)
    lane.room.retryLagging()
    answerSyncs(lane)
  }

  /**
   * After the beat's delivery: answer the syncs whose draws are settled and
   * whose client was sent the covering commit (so `synced` follows its UPDATES).
   */
  function answerSyncs (lane: Lane<C>): void {
    const { room, barrier } = lane
    if (barrier.waiting === 0) return
    barrier.answer(
      (connId) => { const c = hub.get(room.topic, connId); return c === undefined ? undefined : room.seqOf(c) },
      (connId, reply) => { hub.get(room.topic, connId)?.send(encodeJson(reply), true) }
    )
  }

  /**
   * A `sync` from a client of `canvas`: the reply when it can be answered at
   * once, null when it waits for a beat, or RATE_LIMITED past maxPendingSyncs.
   */
  function sync (client: C, canvas: Canvas, msg: { id?: unknown }): SyncedReply | ProtocolError | null {
    const lane = lanes.get(canvas.id)
    if (lane === undefined) return { type: 'synced', ...('id' in msg ? { id: msg.id } : {}), seq: canvas.seq }
    const res = lane.barrier.sync(client.id, msg, lane.room.seqOf(client) ?? null)
    if (res === 'queued') return null
    if (res === 'full') return protocolError('RATE_LIMITED', `more than ${opts.maxPendingSyncs ?? 16} syncs waiting; wait for a synced`, opts.tickMs)
    return res
  }

  /**
   * Cluster mode: the lane's pending batch to the cluster's order, one at a
   * time per canvas (what arrives meanwhile waits in the intake and goes in
   * the next one). The append's answer settles the painters' part (syncs,
   * or UNAVAILABLE); the pixels are shown when the order hands the batch
   * back through the broker, on every node alike.
   */
  function appendLane (lane: Lane<C>, seq: Sequencer): void {
    if (lane.appending) return
    const batch = lane.intake.take(frameRecords)
    if (batch === null) return
    const { canvas } = lane.room
    const pixels = batch.records.length / RECORD
    lane.appending = true
    seq.append(canvas.id, canvas.epoch, batch.records, batch.runs).then((range) => {
      lane.appending = false
      opts.afterCommit?.(batch.runs, true)
      lane.barrier.committed(batch.runs, range.to)
      lane.delay.committed(pixels, beats + tick.slots)
    }, (err: Error) => {
      lane.appending = false
      lane.delay.dropped(pixels)
      stats.commitFailures++
      logger.error({ err, canvas: canvas.id, pixels }, 'append to the cluster order failed; batch rejected')
      refuse(lane, batch, 'the cluster order (Redis) is unavailable; your change was not applied', 1000)
    })
  }

  /**
   * Cluster mode: the order hands batches back between beats (they come
   * back from Redis a few ms after the beat that appended them). Waiting
   * for the next beat to show them added a whole tick to every pixel's
   * delay (bench cluster: p99 1.8x one node); instead they are sent once
   * the read that brought them is done (setImmediate: the batches of one
   * read go in one frame). Only while the tick is not stretched: a
   * stretched tick sends slot by slot, at beats, to bound the frames per
   * second. Its CPU time counts toward the next beat's sending time, and
   * its frames toward that beat's frames (framesWritten), as the adaptive
   * tick's measure of sending expects.
   */
  function showSoon (lane: Lane<C>): void {
    if (lane.showing || timer === null || tick.slots !== 1) return
    lane.showing = true
    setImmediate(() => {
      lane.showing = false
      if (timer === null || tick.slots !== 1 || lanes.get(lane.room.canvas.id) !== lane) return
      const cpu0 = process.cpuUsage()
      show(lane, 0, 1)
      const cpu = process.cpuUsage(cpu0)
      offBeatSendMs += (cpu.user + cpu.system) / 1000
    })
  }

  /** Commit a batch to the log and publish it: the room applies it when the broker hands it back. Null: refused by storage. */
  function commit (lane: Lane<C>, batch: Batch): CommitRange | null {
    const { room } = lane
    const { canvas } = room
    let range: CommitRange
    try {
      const start = performance.now()
      range = log.commit(canvas.id, batch.records, batch.runs)
      const took = performance.now() - start
      commitMs += took
      meter.observe('commit', took / 1000)
    } catch (err) {
      stats.commitFailures++
      // Open the breaker first: the next draw is refused at intake at once.
      opts.storage?.failed(err)
      logger.error({ err, canvas: canvas.id, pixels: batch.records.length / RECORD }, 'commit failed; batch rejected')
      refuse(lane, batch)
      return null
    }
    opts.storage?.succeeded()
    opts.afterCommit?.(batch.runs, true)
    lane.barrier.committed(batch.runs, range.to)
    const event: CommitEvent = { type: 'commit', canvas: canvas.id, epoch: canvas.epoch, from: range.from, to: range.to, pixels: batch.records }
    broker.publish(room.topic, event)
    return range
  }

  /**
   * Commit the server's own changes (a revert) now, not at the next beat:
   * numbered after whatever is committed, before the draws still pending in
   * the intake, and shown like any commit (the next beat delivers it).
   * Returns the seqs they got; throws UNAVAILABLE (DomainError) when storage
   * refuses them.
   */
  function commitNow (canvas: Canvas, records: Buffer, user: string): CommitRange | Promise<CommitRange> {
    const lane = lanes.get(canvas.id)
    if (lane === undefined) throw new DomainError('not_found', 'CANVAS_NOT_FOUND', `no canvas ${canvas.id}`)
    // Cluster mode: through the one order (a local commit would fork it),
    // only while the cluster is still at the seq the changes were planned
    // against (this node's): else MOVED, and the caller plans again.
    if (sequencer !== undefined) return appendNow(canvas, records, user, sequencer)
    // Breaker open: no write is tried (it would wait the busy timeout).
    if (opts.storage?.available === false) throw new DomainError('unavailable', 'UNAVAILABLE', 'storage unavailable; nothing was changed', Math.max(1000, opts.storage.retryAfterMs))
    const range = commit(lane, { records, runs: [{ user, connId: 0, count: records.length / RECORD }] })
    if (range === null) throw new DomainError('unavailable', 'UNAVAILABLE', 'storage unavailable; nothing was changed', 1000)
    return range
  }

  async function appendNow (canvas: Canvas, records: Buffer, user: string, seq: Sequencer): Promise<CommitRange> {
    try {
      return await seq.appendAt(canvas.id, canvas.epoch, records, [{ user, count: records.length / RECORD }], canvas.seq)
    } catch (err) {
      const msg = (err as Error).message
      if (/^MOVED/.test(msg)) throw new DomainError('conflict', 'MOVED', msg)
      return await inCluster(Promise.reject(err))
    }
  }

  /**
   * Cluster mode: a canvas created through the API. Redis first (the id is
   * the cluster's: CANVAS_EXISTS when it has it), then this node's row and
   * room; the other nodes take it from the order's catalog.
   */
  async function createInCluster (id: CanvasId, width: number, height: number, palette: number[] | null, seq: Sequencer): Promise<Canvas> {
    if (store.deleting().includes(id)) throw new DomainError('conflict', 'CANVAS_EXISTS', `canvas ${id} was deleted and is still being purged; try again shortly`)
    const row = { id, width, height, epoch: newEpoch(), seq: 0, createdAt: Date.now(), palette, frozen: false }
    if (!await inCluster(seq.create(row))) throw new DomainError('conflict', 'CANVAS_EXISTS', `canvas ${id} exists in the cluster`)
    return adopt(row)
  }

  /** A canvas whose row is stored (made here, or on another node and taken from the cluster's order): its room. */
  function adopt (row: CanvasRow): Canvas {
    const existing = lanes.get(row.id)
    if (existing !== undefined) return existing.room.canvas
    const canvas = rebuildCanvas(row, store.latestSnapshot(row.id), log, frameRecords)
    canvas.logFloor = store.logFloor?.(row.id, canvas.seq) ?? 0
    addLane(canvas)
    logger.info({ canvas: row.id, width: row.width, height: row.height, seq: canvas.seq }, 'canvas created')
    return canvas
  }

  /** A batch that will not be committed: its painters hear UNAVAILABLE, nobody sees the pixels. */
  function refuse (lane: Lane<C>, batch: Batch, message = 'storage unavailable; your change was not applied', retryMs = Math.max(1000, opts.storage?.retryAfterMs ?? 0)): void {
    const { room } = lane
    bump(counts.pixelsRejected, 'UNAVAILABLE', batch.records.length / RECORD)
    const msg = encodeError(protocolError('UNAVAILABLE', message, retryMs))
    for (const run of batch.runs) hub.get(room.topic, run.connId)?.send(msg)
    opts.afterCommit?.(batch.runs, false)
    lane.barrier.refused(batch.runs)
  }

  let framesBefore = opts.framesWritten?.() ?? 0
  /** CPU time the current beat spent committing (not sending) */
  let commitMs = 0
  /** CPU time spent sending between beats since the last one (cluster mode: showSoon) */
  let offBeatSendMs = 0
  function onBeat (): void {
    beatFrames.count = 0
    commitMs = 0
    // CPU time, not wall time: on a CPU shared with other processes, wall
    // time grows with their load, and stretching the period for it made
    // frames bigger, receivers slower and the period longer still (at
    // saturation the slots ran away from 4 to 20, p99 1.9-3.5 s).
    const cpu0 = process.cpuUsage()
    flush()
    const cpu = process.cpuUsage(cpu0)
    const sendMs = Math.max(0, (cpu.user + cpu.system) / 1000 - commitMs) + offBeatSendMs
    offBeatSendMs = 0
    let frames = beatFrames.count
    if (opts.framesWritten !== undefined) {
      const total = opts.framesWritten()
      frames = total - framesBefore
      framesBefore = total
    }
    tick.endBeat(frames, sendMs)
    opts.afterBeat?.()
  }

  function start (): void {
    if (timer !== null) return
    timer = setInterval(onBeat, opts.tickMs)
  }

  /** Stop ticking and commit what is pending: nothing accepted is dropped. */
  function stop (): void {
    purger.stop()
    if (timer !== null) clearInterval(timer)
    timer = null
    // the last flush sends every slot: nobody is left without what committed
    tick.reset()
    flush()
  }

  const roomOf = (canvas: Canvas): Room<C> => {
    const lane = lanes.get(canvas.id)
    if (lane === undefined) throw new Error(`no canvas ${canvas.id}`)
    return lane.room
  }

  return {
    load,
    create,
    /** Create a canvas through the API: in cluster mode through Redis (every node serves it), else create(). */
    async add (id: CanvasId, width: number, height: number, palette: number[] | null = null): Promise<Canvas> {
      return sequencer !== undefined ? await createInCluster(id, width, height, palette, sequencer) : create(id, width, height, palette)
    },
    adopt,
    update,
    reset,
    remove,
    get: (id: CanvasId): Canvas | undefined => lanes.get(id)?.room.canvas,
    list: (): Canvas[] => [...lanes.values()].map((l) => l.room.canvas),
    draw,
    commitNow,
    canReplay,
    /** Subscribe a client and start its sync, by replay from `replayFrom` or by snapshot. */
    attach: (client: C, canvas: Canvas, replayFrom: number | null): void => { roomOf(canvas).attach(client, replayFrom) },
    /** A client leaving: forget it everywhere this service holds it. */
    detach (client: C): void {
      for (const lane of lanes.values()) {
        lane.room.detach(client)
        lane.barrier.forget(client.id)
      }
    },
    sync,
    /** syncs waiting, over all canvases (tests, metrics) */
    get syncsWaiting (): number { let n = 0; for (const l of lanes.values()) n += l.barrier.waiting; return n },
    /** The seq of the last change the client was sent on `canvas` (null: syncing; undefined: not attached). */
    seqOf: (client: C, canvas: Canvas) => roomOf(canvas).seqOf(client),
    /** Pixels accepted and not yet committed. */
    pendingCount: (id: CanvasId): number => lanes.get(id)?.intake.count ?? 0,
    flush,
    /** UNAVAILABLE while storage cannot be written (checked before a draw's budget is spent), else null */
    storageRefusal,
    stats,
    /** deleted canvases whose rows are still being purged (tests) */
    get purging (): number { return purger.pending },
    /** beats flushed so far (tests) */
    get beats (): number { return beats },
    /** the adaptive tick: current period (ms), slots, rotations that were stretched */
    tick,
    start,
    stop,
    snapshot: (canvas: Canvas) => roomOf(canvas).snapshot()
  }
}

export type CanvasService<C extends CanvasClient = CanvasClient> = ReturnType<typeof createCanvasService<C>>
