// Canvases in one process: loading them from SQLite, queuing draws, the
// per-tick group commit, and keeping every attached client in sync.
//
// Sync invariant: a client's `canvasSeq` is the seq of the last change it was
// sent (null while its snapshot is being compressed). A tick's UPDATES frame
// covers (from, to]; it goes, as one shared buffer, exactly to the clients at
// `from`. Anyone else (behind, or over its send buffer) is caught up from the
// change log, or with a snapshot, once its socket has drained. So every client
// sees "snapshot, then every change in order", never a gap or a duplicate.
import { promisify } from 'node:util'
import { deflate, inflateSync } from 'node:zlib'
import { PIXEL_RECORD_BYTES as RECORD, encodeSnapshot, encodeUpdates, rectRecords, type DrawOp } from '../protocol/codec.js'
import { encodeError, protocolError, type ProtocolError } from '../protocol/errors.js'
import type { CanvasId, CanvasRow, CanvasStore } from '../persistence/canvas-store.js'
import type { Hub, Subscriber } from '../hub/hub.js'
import { Canvas, blankPixels, newEpoch } from './canvas.js'
import { SharedFrame } from '../connection/connection.js'
import { ArrivalQueue, bump, noopMeter, type Meter } from '../metrics.js'

const deflateAsync = promisify(deflate)

export interface CanvasClient extends Subscriber {
  canvasSeq: number | null
  readonly bufferedBytes: number
  send (data: Buffer | string): boolean
  /** send(frame.data), written pre-framed where the client can (optional) */
  sendShared? (frame: SharedFrame): boolean
}

/**
 * The next tick's period: the configured tick, stretched (up to max) so that
 * the frames the last period wrote fit the frame budget (frames per second),
 * and so that sending took at most 1/TICK_SEND_FACTOR of its CPU time. The commit
 * does not stretch it: a tick slowed by a big commit must not get longer,
 * or fewer pixels per second would commit.
 */
export function nextTickMs (tickMs: number, tickMaxMs: number, frames: number, frameBudget: number, sendMs = 0): number {
  const budgetMs = frameBudget > 0 ? 1000 * frames / frameBudget : 0
  return Math.min(Math.max(tickMs, tickMaxMs), Math.max(tickMs, budgetMs, TICK_SEND_FACTOR * sendMs))
}

/**
 * A tick's period is also at least this many times the CPU time its beats
 * spent sending (the flush without the commit): sending never takes more
 * than the whole process. Measured, not guessed (bench/results/2026-12-02-tick.md): a
 * factor of 2 doubled the 50 ms tick at 2,000 clients (~30 ms sending;
 * periods are whole beats) and the fan-out p99 with it (117-121 ms against
 * 83-85 ms), and at saturation fewer, larger bursts arrived later (p99
 * 6.9-26.5 s and 10.7 s against 1.04 s). Its one gain, 10,000 clients
 * connecting in ~20 s instead of ~90 s (fewer presence frames), is not
 * worth that.
 */
export const TICK_SEND_FACTOR = 1

/** Rotations in a row that must want fewer slots before a stretched tick shrinks (see onBeat). */
const SHRINK_AFTER = 3
/** Frames kept per canvas for its current seq, by the seq they start from (see frameFrom). */
const FRAME_CACHE_MAX = 16

export interface Logger {
  info (obj: object, msg?: string): void
  warn (obj: object, msg?: string): void
  error (obj: object, msg?: string): void
}

export interface CanvasServiceOptions<C extends CanvasClient> {
  store: CanvasStore
  hub: Hub<C>
  log: Logger
  tickMs: number
  /**
   * Adaptive tick: with many clients the tick stretches, up to this, so
   * that UPDATES frames stay within frameBudget per second. Each tick still
   * sends every committed pixel (nothing is dropped); ticks just get fewer
   * and their frames fuller. Default tickMs: a fixed tick.
   */
  tickMaxMs?: number
  /**
   * Adaptive tick: the UPDATES frames a second may cost (all clients
   * together). A tick that wrote n frames makes the next one at least
   * n / frameBudget s long: with many clients, fewer and fuller frames.
   * 0 or unset: no frame budget (only the CPU time spent sending stretches the tick).
   */
  frameBudget?: number
  /**
   * Every frame written so far, to every client (a counter that only grows).
   * When given, the frame budget counts all of them between two ticks
   * (presence, snapshots, ...), not only UPDATES.
   */
  framesWritten?: () => number
  maxPendingPixels: number
  maxReplay: number
  sendBufferBytes: number
  snapshotEvery: number
  defaultCanvas: { id: CanvasId, width: number, height: number }
  /** runs at the end of every tick (presence and cursors ride the same tick) */
  afterFlush?: () => void
  /** runs once per attach, right after the client's snapshot or replay was sent */
  onSynced?: (client: C) => void
  /** counts and timings for metrics (default: none) */
  meter?: Meter
}

interface SnapshotEntry { seq: number, deflated: Buffer, frame: Buffer }

export const canvasTopic = (id: CanvasId) => `canvas:${id}`

export function createCanvasService<C extends CanvasClient> (opts: CanvasServiceOptions<C>) {
  const { store, hub, log } = opts
  const meter = opts.meter ?? noopMeter
  const counts = meter.counts
  /** per canvas, when each queued draw op arrived (pixel delay histogram) */
  const arrivals = new Map<CanvasId, ArrivalQueue>()
  const canvases = new Map<CanvasId, Canvas>()
  /** one compression per canvas at a time; the newest result is kept */
  const snapshots = new Map<CanvasId, { seq: number, done: boolean, promise: Promise<SnapshotEntry> }>()
  /** attached by snapshot and not yet sent it (onSynced pending) */
  const firstSync = new WeakSet<C>()
  /** clients whose snapshot is being compressed (their canvasSeq is null) */
  const syncing = new Set<C>()
  /** clients that missed a frame or a snapshot; retried every tick until caught up */
  const lagging = new Map<CanvasId, Set<C>>()
  let timer: NodeJS.Timeout | null = null
  const tickMaxMs = Math.max(opts.tickMs, opts.tickMaxMs ?? opts.tickMs)
  /**
   * The adaptive tick: its period in beats (clients are sent in this many
   * slots, one per beat), how many rotations were stretched, frames written
   * by the last beat.
   */
  const tick = {
    slots: 1,
    get periodMs (): number { return this.slots * opts.tickMs },
    stretched: 0,
    frames: 0,
    commitMs: 0
  }
  const maxSlots = Math.max(1, Math.floor(tickMaxMs / opts.tickMs))
  /** per canvas, the frames built from its newest commits at its current seq, by the seq they start from */
  const frameCache = new Map<CanvasId, { seq: number, frames: Map<number, SharedFrame | null> }>()
  /** per canvas, the beat of its last commit */
  const lastCommit = new Map<CanvasId, number>()
  /** per canvas, its newest commits (seq start, end] (see remember) */
  const recent = new Map<CanvasId, { start: number, end: number, parts: Buffer[], records: number }>()
  // Largest UPDATES frame, live or catch-up, in records: half a send buffer,
  // so one frame can never carry a connection far past its cap. A tick with
  // more pending commits this much and leaves the rest for the next tick:
  // still one frame per canvas per tick (contract §4).
  const frameRecords = Math.max(1, Math.floor(opts.sendBufferBytes / 2 / RECORD))
  /** counters for metrics and tests */
  const stats = { lagged: 0, catchUpFrames: 0, snapshotsSent: 0, commitFailures: 0 }
  /** the last commit's failure, until a commit succeeds again (readiness reads it) */
  let storageError: string | null = null
  /** when the current beat's frames were written (observeDelay reads it) */
  let written = 0
  /** beats flushed so far */
  let beats = 0
  /** per canvas, committed batches not yet sent to every slot: the beat that sends the last slot, and their pixels */
  const undelivered = new Map<CanvasId, Array<{ beat: number, pixels: number }>>()

  function load (): void {
    for (const row of store.list()) canvases.set(row.id, rebuild(row))
    const d = opts.defaultCanvas
    if (!canvases.has(d.id)) create(d.id, d.width, d.height)
  }

  /** Newest stored snapshot, then the log after it: boot cost is bounded by SNAPSHOT_EVERY. */
  function rebuild (row: CanvasRow): Canvas {
    const snap = store.latestSnapshot(row.id)
    const pixels = snap !== undefined ? inflateSync(snap.pixels) : blankPixels(row.width, row.height)
    const canvas = new Canvas({ ...row, seq: snap?.seq ?? 0 }, pixels, opts.maxPendingPixels, snap?.seq ?? 0)
    for (;;) {
      const records = store.changesAfter(row.id, canvas.seq, frameRecords)
      if (records.length === 0) break
      canvas.apply(records)
      canvas.seq += records.length / RECORD
    }
    if (canvas.seq !== row.seq) throw new Error(`canvas ${row.id}: log ends at seq ${canvas.seq}, canvases.seq is ${row.seq}`)
    return canvas
  }

  function create (id: CanvasId, width: number, height: number): Canvas {
    const row: CanvasRow = { id, width, height, epoch: newEpoch(), seq: 0, createdAt: Date.now() }
    store.insert(row)
    const canvas = new Canvas(row, blankPixels(width, height), opts.maxPendingPixels)
    canvases.set(id, canvas)
    log.info({ canvas: id, width, height }, 'canvas created')
    return canvas
  }

  /** Queue a validated draw for the next tick. Returns an error to send, or null. */
  function draw (canvas: Canvas, op: DrawOp, user: string, connId: number): ProtocolError | null {
    const records = op.kind === 'pixels'
      ? op.records
      : op.kind === 'rect' ? rectRecords(op.x, op.y, op.w, op.h, op.color) : null
    if (records === null || records.length === 0) return null
    if (!canvas.enqueue(records, user, connId)) {
      return protocolError('UNAVAILABLE', 'canvas is busy; the change was not applied', opts.tickMs)
    }
    let queue = arrivals.get(canvas.id)
    if (queue === undefined) arrivals.set(canvas.id, (queue = new ArrivalQueue()))
    queue.push(performance.now(), records.length / RECORD)
    return null
  }

  /** Decide before `hello` whether `since` can be served by an exact replay. */
  function canReplay (canvas: Canvas, since: number | undefined, epoch: string | undefined): boolean {
    return since !== undefined && epoch === canvas.epoch && since <= canvas.seq && canvas.seq - since <= opts.maxReplay
  }

  /** Subscribe a client and start its sync, by replay from `since` or by snapshot. */
  function attach (client: C, canvas: Canvas, replayFrom: number | null): void {
    if (!hub.subscribe(client, canvasTopic(canvas.id))) return
    counts.resumes[replayFrom !== null ? 'replay' : 'snapshot']++
    if (replayFrom !== null) {
      client.canvasSeq = replayFrom
      catchUp(client, canvas)
      opts.onSynced?.(client)
    } else {
      firstSync.add(client)
      sendSnapshot(client, canvas)
    }
  }

  function sendSnapshot (client: C, canvas: Canvas): void {
    client.canvasSeq = null
    syncing.add(client)
    snapshot(canvas).then((snap) => {
      syncing.delete(client)
      // re-check after the await: the client may have gone meanwhile
      if (client.closed) return
      if (!client.send(snap.frame)) return markLagging(canvas.id, client) // still null: retried with a snapshot
      stats.snapshotsSent++
      client.canvasSeq = snap.seq
      catchUp(client, canvas)
      if (firstSync.delete(client)) opts.onSynced?.(client)
    }, (err: Error) => {
      syncing.delete(client)
      log.error({ err, canvas: canvas.id }, 'snapshot failed')
      markLagging(canvas.id, client)
    })
  }

  /**
   * Send everything from client.canvasSeq to canvas.seq out of the log, or a
   * snapshot when that is more than maxReplay. Synchronous, so nothing can be
   * committed in between. Leaves the client at canvas.seq, or, when its send
   * buffer filled up on the way, at the last frame it was sent and lagging.
   */
  function catchUp (client: C, canvas: Canvas): void {
    if (client.canvasSeq === null || client.closed) return
    let at = client.canvasSeq
    if (canvas.seq - at > opts.maxReplay) return sendSnapshot(client, canvas)
    if (at === canvas.seq) return
    // Recent enough: one frame out of memory, shared with whoever else is at `at`
    // (a slot change or a burst of laggards must not cost a log read each).
    const frame = frameFrom(canvas, at)
    if (frame !== null) {
      if (sendFrame(client, frame)) {
        stats.catchUpFrames++
        tick.frames++
        client.canvasSeq = canvas.seq
      } else {
        markLagging(canvas.id, client)
      }
      return
    }
    while (at < canvas.seq) {
      const records = store.changesAfter(canvas.id, at, Math.min(frameRecords, canvas.seq - at))
      if (records.length === 0) throw new Error(`canvas ${canvas.id}: log has no change after ${at}`)
      const next = at + records.length / RECORD
      if (!client.send(encodeUpdates(next, records))) {
        markLagging(canvas.id, client)
        break
      }
      stats.catchUpFrames++
      tick.frames++
      at = next
    }
    client.canvasSeq = at
  }

  /**
   * Deflate the canvas once per seq for every joiner. While a compression is
   * running, joiners share it even if seq moved on: their catch-up replays
   * the difference from the log.
   */
  function snapshot (canvas: Canvas): Promise<SnapshotEntry> {
    const cached = snapshots.get(canvas.id)
    if (cached !== undefined && (cached.seq === canvas.seq || !cached.done)) return cached.promise
    const seq = canvas.seq
    const copy = Buffer.from(canvas.pixels)
    const entry = {
      seq,
      done: false,
      promise: deflateAsync(copy).then((deflated) => ({
        seq,
        deflated,
        frame: encodeSnapshot(seq, canvas.width, canvas.height, 1, deflated)
      }))
    }
    entry.promise.then(() => { entry.done = true }, () => {
      if (snapshots.get(canvas.id) === entry) snapshots.delete(canvas.id)
    })
    snapshots.set(canvas.id, entry)
    return entry.promise
  }

  /**
   * One beat: commit every canvas's pending batch, then send this beat's
   * slot of clients what they have not seen yet (every client when the
   * tick is not stretched), catch laggards up, then presence.
   */
  function flush (): void {
    const start = performance.now()
    const slot = rotation.beat % tick.slots
    for (const canvas of canvases.values()) flushCanvas(canvas, slot)
    beats++
    opts.afterFlush?.()
    meter.observe('tick', (performance.now() - start) / 1000)
  }

  function flushCanvas (canvas: Canvas, slot: number): void {
    const batch = canvas.takeBatch(frameRecords)
    const topic = canvasTopic(canvas.id)
    const subs = hub.subscribers(topic)
    if (batch !== null) {
      const from = canvas.seq
      const pixels = batch.records.length / RECORD
      try {
        const start = performance.now()
        store.commit(canvas.id, from, batch.records, batch.runs)
        const took = performance.now() - start
        tick.commitMs += took
        meter.observe('commit', took / 1000)
      } catch (err) {
        storageError = (err as Error).message
        stats.commitFailures++
        bump(counts.pixelsRejected, 'UNAVAILABLE', pixels)
        arrivals.get(canvas.id)?.take(pixels)
        // Never shown as applied: the painters hear it, nobody sees the pixels.
        log.error({ err, canvas: canvas.id, pixels }, 'commit failed; batch rejected')
        const msg = encodeError(protocolError('UNAVAILABLE', 'storage unavailable; your change was not applied', 1000))
        for (const run of batch.runs) subs.get(run.connId)?.send(msg)
        return
      }
      storageError = null
      canvas.apply(batch.records)
      canvas.seq = from + batch.records.length / RECORD
      remember(canvas, from, batch.records)
      lastCommit.set(canvas.id, beats)
      counts.pixelsApplied += pixels
    }
    // Every slot has been visited since the last commit (two rotations of the
    // most slots cover any change of slots): nobody in sync is behind.
    if (beats - (lastCommit.get(canvas.id) ?? -Infinity) <= 2 * maxSlots) broadcast(canvas, subs, slot)
    if (batch !== null) {
      // every slot has it after this beat and the slots - 1 that follow
      let u = undelivered.get(canvas.id)
      if (u === undefined) undelivered.set(canvas.id, (u = []))
      u.push({ beat: beats + tick.slots - 1, pixels: batch.records.length / RECORD })
      maybeStoreSnapshot(canvas)
    }
    observeDelivered(canvas.id)
    retryLagging(canvas)
  }

  /** Keep the canvas's newest commits in memory: the slots of a stretched tick are sent from them. */
  function remember (canvas: Canvas, from: number, records: Buffer): void {
    let r = recent.get(canvas.id)
    if (r === undefined || r.end !== from) recent.set(canvas.id, (r = { start: from, end: from, parts: [], records: 0 }))
    r.parts.push(records)
    r.end = canvas.seq
    r.records += records.length / RECORD
    // Bounded: what one frame may carry, and no commit older than two
    // rotations of the most slots (a client whose slot changed may have
    // waited that long).
    while (r.parts.length > 1 && (r.records - r.parts[0].length / RECORD >= frameRecords || r.parts.length > 2 * maxSlots + 1)) {
      const n = r.parts.shift()!.length / RECORD
      r.records -= n
      r.start += n
    }
  }

  /**
   * The UPDATES frame from seq `at` to canvas.seq, out of memory, built once
   * per (at, canvas.seq) for every client that needs it (a slot, and the
   * laggards caught up in the same beat); null when it is not all in
   * memory, or too big for one frame.
   */
  function frameFrom (canvas: Canvas, at: number): SharedFrame | null {
    let cache = frameCache.get(canvas.id)
    if (cache === undefined || cache.seq !== canvas.seq) frameCache.set(canvas.id, (cache = { seq: canvas.seq, frames: new Map() }))
    let frame = cache.frames.get(at)
    if (frame === undefined) {
      frame = buildFrame(canvas, at)
      // Bounded: a slot's clients share one `at`; clients resumed at many
      // other seqs (a resume storm) get frames built for them, not kept.
      if (cache.frames.size < FRAME_CACHE_MAX) cache.frames.set(at, frame)
    }
    return frame
  }

  function buildFrame (canvas: Canvas, at: number): SharedFrame | null {
    const r = recent.get(canvas.id)
    if (r === undefined || r.end !== canvas.seq || at < r.start || canvas.seq - at > frameRecords) return null
    const parts: Buffer[] = []
    let partStart = r.start
    for (const part of r.parts) {
      const partEnd = partStart + part.length / RECORD
      if (partEnd > at) parts.push(partStart >= at ? part : part.subarray((at - partStart) * RECORD))
      partStart = partEnd
    }
    return new SharedFrame(encodeUpdates(canvas.seq, parts.length === 1 ? parts[0] : Buffer.concat(parts)))
  }

  /**
   * Send this beat's slot of clients in sync (all of them when slots is 1)
   * what they have not seen: clients at the same seq share one frame,
   * encoded once. Anyone it cannot be sent to (over its send buffer, or
   * behind what is in memory) lags, and is caught up once drained.
   */
  function broadcast (canvas: Canvas, subs: ReadonlyMap<number, C>, slot: number): void {
    const behind = lagging.get(canvas.id)
    for (const client of subs.values()) {
      if (tick.slots > 1 && client.id % tick.slots !== slot) continue
      const at = client.canvasSeq
      // laggards are caught up by retryLagging (a snapshot past maxReplay)
      if (at === canvas.seq || behind?.has(client) === true) continue
      if (at === null) {
        if (!syncing.has(client)) markLagging(canvas.id, client)
        continue
      }
      const frame = frameFrom(canvas, at)
      if (frame !== null && client.bufferedBytes <= opts.sendBufferBytes && sendFrame(client, frame)) {
        client.canvasSeq = canvas.seq
        tick.frames++
      } else {
        markLagging(canvas.id, client)
      }
    }
  }

  /** A shared frame to one client, pre-framed where the client can take it so. */
  function sendFrame (client: C, frame: SharedFrame): boolean {
    return client.sendShared !== undefined ? client.sendShared(frame) : client.send(frame.data)
  }

  /** The batches whose last slot was sent this beat (all of them once slots is 1): their draw ops' delays. */
  function observeDelivered (id: CanvasId): void {
    const u = undelivered.get(id)
    if (u === undefined) return
    written = performance.now()
    const n = tick.slots === 1 ? u.length : u.findIndex((d) => d.beat > beats)
    for (const done of u.splice(0, n < 0 ? u.length : n)) arrivals.get(id)?.take(done.pixels, observeDelay)
    if (u.length === 0) undelivered.delete(id)
  }

  /** A draw op's delay from arrival until the frame with its last pixel was written to every slot. */
  function observeDelay (arrivedAt: number): void {
    meter.observe('pixelDelay', (written - arrivedAt) / 1000)
  }

  function markLagging (id: CanvasId, client: C): void {
    let set = lagging.get(id)
    if (set === undefined) lagging.set(id, (set = new Set()))
    if (!set.has(client)) stats.lagged++
    set.add(client)
  }

  function retryLagging (canvas: Canvas): void {
    const set = lagging.get(canvas.id)
    if (set === undefined) return
    for (const client of set) {
      if (client.closed) { set.delete(client); continue }
      if (client.bufferedBytes > opts.sendBufferBytes) continue
      set.delete(client)
      if (client.canvasSeq === null) sendSnapshot(client, canvas)
      else catchUp(client, canvas)
    }
    if (set.size === 0) lagging.delete(canvas.id)
  }

  function maybeStoreSnapshot (canvas: Canvas): void {
    if (canvas.seq - canvas.storedSnapshotSeq < opts.snapshotEvery) return
    canvas.storedSnapshotSeq = canvas.seq // claim it now so one tick starts one save
    snapshot(canvas).then((snap) => {
      store.saveSnapshot(canvas.id, snap.seq, snap.deflated)
    }).catch((err: Error) => {
      canvas.storedSnapshotSeq = 0
      log.warn({ err, canvas: canvas.id }, 'storing snapshot failed; will retry')
    })
  }

  /**
   * The clock beats at TICK_MS and every beat commits. A stretched tick of
   * period G beats splits the clients into G slots (by connection id) and
   * each beat sends one slot: every client still gets one frame per
   * period, but a beat writes a G-th of the frames, so the write burst,
   * and the wait of the clients written last, is a G-th of what one flush
   * to everyone would take (bench/results: saturation p99). After each
   * rotation (G beats) the period is set again from the frames and the
   * sending time of that rotation.
   */
  const rotation = { beat: 0, frames: 0, sendMs: 0 }
  const shrink = { rotations: 0, most: 1 }
  let framesBefore = opts.framesWritten?.() ?? 0
  function onBeat (): void {
    tick.frames = 0
    tick.commitMs = 0
    // CPU time, not wall time: on a CPU shared with other processes, wall
    // time grows with their load, and stretching the period for it made
    // frames bigger, receivers slower and the period longer still (at
    // saturation the slots ran away from 4 to 20, p99 1.9-3.5 s).
    const cpu0 = process.cpuUsage()
    flush()
    const cpu = process.cpuUsage(cpu0)
    rotation.sendMs += Math.max(0, (cpu.user + cpu.system) / 1000 - tick.commitMs)
    if (opts.framesWritten !== undefined) {
      const total = opts.framesWritten()
      tick.frames = total - framesBefore
      framesBefore = total
    }
    rotation.frames += tick.frames
    if (++rotation.beat < tick.slots) return
    const periodMs = nextTickMs(opts.tickMs, tickMaxMs, rotation.frames, opts.frameBudget ?? 0, rotation.sendMs)
    const wanted = Math.min(maxSlots, Math.max(1, Math.ceil(periodMs / opts.tickMs - 0.5)))
    // Every change of slots reshuffles who is sent when (and makes some wait
    // up to two periods): more slots at once, fewer only once SHRINK_AFTER
    // rotations in a row wanted fewer, and then the most of them wanted.
    if (wanted > tick.slots) {
      tick.slots = wanted
      shrink.rotations = 0
    } else if (wanted < tick.slots) {
      shrink.most = shrink.rotations === 0 ? wanted : Math.max(shrink.most, wanted)
      if (++shrink.rotations >= SHRINK_AFTER) {
        tick.slots = shrink.most
        shrink.rotations = 0
      }
    } else {
      shrink.rotations = 0
    }
    if (tick.slots > 1) tick.stretched++
    rotation.beat = rotation.frames = rotation.sendMs = 0
  }

  function start (): void {
    if (timer !== null) return
    timer = setInterval(onBeat, opts.tickMs)
  }

  /** Stop ticking and commit what is pending: nothing accepted is dropped. */
  function stop (): void {
    if (timer !== null) clearInterval(timer)
    timer = null
    // the last flush sends every slot: nobody is left without what committed
    tick.slots = 1
    rotation.beat = 0
    flush()
  }

  /** A client leaving: forget it everywhere this service holds it. */
  function detach (client: C): void {
    syncing.delete(client)
    for (const set of lagging.values()) set.delete(client)
  }

  return {
    load,
    create,
    get: (id: CanvasId) => canvases.get(id),
    list: () => [...canvases.values()],
    draw,
    canReplay,
    attach,
    detach,
    flush,
    /** null while commits succeed; the last failure's message otherwise */
    get storageError () { return storageError },
    stats,
    /** the adaptive tick: current period (ms), ticks that were stretched, frames counted for the last tick */
    tick,
    start,
    stop,
    snapshot
  }
}

export type CanvasService<C extends CanvasClient = CanvasClient> = ReturnType<typeof createCanvasService<C>>
