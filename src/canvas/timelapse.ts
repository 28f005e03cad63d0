// A canvas as it was: one past seq as a PNG (snapshot.png?seq=N), or its
// history as an animated PNG (timelapse). Built from the stored snapshots
// (SNAPSHOT_KEEP of them, one every SNAPSHOT_EVERY changes) and the change
// log, with bounded work per request:
//
// - a frame is the newest stored snapshot at or before its seq plus at most
//   `maxReplay` changes read from the log (a seq further than that from
//   every stored snapshot is no longer kept: 410); the log is read in chunks,
//   yielding to the event loop between them, and inflate/deflate run on
//   libuv's thread pool;
// - a timelapse has at most `maxFrames` frames, at most `maxBytes` of PNG
//   (413 past it, stopped there), and walks forward: each frame replays from
//   the previous one when that is closer than a snapshot;
// - one build at a time, at most `maxQueued` waiting (503 beyond), requests
//   for the same result share it;
// - results are cached: a past frame is immutable (same canvas, epoch and
//   seq: same image), kept in an LRU bounded by `cacheBytes`; a timelapse
//   (which ends at the current seq) is served for `ttlMs` before it is
//   rebuilt with what was drawn since.
import { promisify } from 'node:util'
import { inflate } from 'node:zlib'
import { DomainError } from '../domain-error.js'
import { apngFile, encodePng, pngImageData, type PngSource } from '../png.js'
import { PIXEL_RECORD_BYTES as RECORD } from '../protocol/wire.js'
import { Canvas, blankPixels } from './canvas.js'

const inflateAsync = promisify(inflate)
const tick = () => new Promise<void>((resolve) => setImmediate(resolve))

/** What a timelapse reads: stored snapshots and the change log (canvas-store). */
export interface HistorySource {
  snapshotAtOrBefore (canvas: string, seq: number): { seq: number, pixels: Buffer } | undefined
  oldestSnapshotSeq (canvas: string): number | undefined
  changesBetween (canvas: string, afterSeq: number, upTo: number, limit: number): Buffer
}

/** The canvas now (committed pixels at epoch, seq): what a request is answered against. */
export type CanvasView = PngSource

export interface TimelapseOptions {
  store: HistorySource
  /** most changes replayed onto a stored snapshot for one frame */
  maxReplay: number
  /** most frames in one timelapse */
  maxFrames: number
  /** largest timelapse, in bytes of PNG (413 past it) */
  maxBytes: number
  /** bytes of PNG kept in the cache (LRU) */
  cacheBytes: number
  /** how long a timelapse is served before it is rebuilt */
  ttlMs: number
  /** builds waiting for the one running, at most */
  maxQueued: number
  /** how long each timelapse frame shows (ms) */
  frameMs?: number
  /** changes read from the log per step before yielding (default 2,000: a few ms of the event loop each) */
  chunk?: number
  now?: () => number
}

export interface Image { readonly png: Buffer, readonly etag: string }

interface Cached { key: string, bytes: number, builtAt: number, promise: Promise<Image> }

export function createTimelapse (opts: TimelapseOptions) {
  const { store } = opts
  const chunk = opts.chunk ?? 2000
  const now = opts.now ?? Date.now
  const frameMs = opts.frameMs ?? 250
  // Map order is insertion order: a hit moves to the end; the front is evicted.
  const cache = new Map<string, Cached>()
  let cachedBytes = 0
  let running: Promise<unknown> = Promise.resolve()
  let queued = 0
  const stats = { builds: 0, framesBuilt: 0, changesReplayed: 0 }

  function remember (entry: Cached): void {
    cache.set(entry.key, entry)
    entry.promise.then((img) => {
      if (cache.get(entry.key) !== entry) return
      entry.bytes = img.png.length
      cachedBytes += entry.bytes
      for (const [key, e] of cache) {
        if (cachedBytes <= opts.cacheBytes || e === entry) break
        cache.delete(key)
        cachedBytes -= e.bytes
      }
    }, () => { if (cache.get(entry.key) === entry) cache.delete(entry.key) }) // a refusal is not cached
  }

  function lookup (key: string, fresh: (e: Cached) => boolean): Promise<Image> | undefined {
    const e = cache.get(key)
    if (e === undefined) return undefined
    if (!fresh(e)) {
      cache.delete(key)
      cachedBytes -= e.bytes
      return undefined
    }
    cache.delete(key)
    cache.set(key, e)
    return e.promise
  }

  /** Run builds one at a time; refuse past maxQueued waiting. */
  function serialized<T> (build: () => Promise<T>): Promise<T> {
    if (queued >= opts.maxQueued) {
      return Promise.reject(new DomainError('unavailable', 'BUSY', 'too many timelapse images being built; try again shortly', 1000))
    }
    queued++
    const p = running.then(() => { queued--; stats.builds++; return build() })
    running = p.catch(() => {})
    return p
  }

  /** The oldest seq a frame can be built for: 0 while every snapshot is kept, else the oldest stored one. */
  function firstSeq (canvas: CanvasView): number {
    const oldest = store.oldestSnapshotSeq(canvas.id)
    return oldest !== undefined && oldest > opts.maxReplay ? oldest : 0
  }

  /** A working copy of the canvas at `seq`: the newest stored snapshot at or before it. */
  async function base (canvas: CanvasView, seq: number): Promise<Canvas> {
    const snap = store.snapshotAtOrBefore(canvas.id, seq)
    const from = snap?.seq ?? 0
    if (seq - from > opts.maxReplay) {
      throw new DomainError('gone', 'SEQ_NOT_KEPT', `canvas ${canvas.id} at seq ${seq} is no longer kept: no stored snapshot within ${opts.maxReplay} changes before it (seqs 0..${opts.maxReplay} and from ${firstSeq(canvas)} on are)`)
    }
    const pixels = snap !== undefined ? await inflateAsync(snap.pixels) : blankPixels(canvas.width, canvas.height)
    return new Canvas({ id: canvas.id, width: canvas.width, height: canvas.height, epoch: canvas.epoch, seq: from, createdAt: 0 }, pixels)
  }

  /** Replay the log onto `work` up to `seq`, a chunk at a time, yielding between chunks. */
  async function replay (work: Canvas, seq: number): Promise<void> {
    while (work.seq < seq) {
      const records = store.changesBetween(work.id, work.seq, seq, chunk)
      if (records.length === 0) break // the log ends (cannot be past canvas.seq): nothing more to apply
      work.apply(records)
      work.seq += records.length / RECORD
      stats.changesReplayed += records.length / RECORD
      if (work.seq < seq) await tick()
    }
    work.seq = seq
  }

  /** Move `work` (or a fresh base when that is closer or it is null) to `seq`. */
  async function advance (canvas: CanvasView, work: Canvas | null, seq: number): Promise<Canvas> {
    const snap = store.snapshotAtOrBefore(canvas.id, seq)
    if (work === null || seq - work.seq > opts.maxReplay || (snap !== undefined && snap.seq > work.seq)) work = await base(canvas, seq)
    await replay(work, seq)
    stats.framesBuilt++
    return work
  }

  function checkSeq (canvas: CanvasView, seq: number): void {
    if (seq > canvas.seq) throw new DomainError('not_found', 'SEQ_NOT_REACHED', `canvas ${canvas.id} is at seq ${canvas.seq}; seq ${seq} does not exist yet`)
  }

  /** The canvas at `seq`, as a PNG; immutable for (canvas, epoch, seq). */
  function frame (canvas: CanvasView, seq: number): Promise<Image> {
    checkSeq(canvas, seq)
    const etag = `"${canvas.epoch}-${seq}"`
    const key = `png ${canvas.id} ${canvas.epoch} ${seq}`
    const hit = lookup(key, () => true)
    if (hit !== undefined) return hit
    // The current seq needs no replay: encodePng copies the live pixels synchronously.
    const promise = seq === canvas.seq
      ? encodePng(canvas.width, canvas.height, canvas.pixels).then((png) => ({ png, etag }))
      : serialized(async () => {
        const work = await advance(canvas, null, seq)
        return { png: await encodePng(canvas.width, canvas.height, work.pixels), etag }
      })
    remember({ key, bytes: 0, builtAt: now(), promise })
    return promise
  }

  /** The seqs of a timelapse of `frames` frames: evenly spaced from the first viewable seq to the current one. */
  function frameSeqs (canvas: CanvasView, frames: number): number[] {
    const first = firstSeq(canvas)
    const last = canvas.seq
    if (frames === 1 || last === first) return [last]
    const out: number[] = []
    for (let i = 0; i < frames; i++) {
      const s = first + Math.round(i * (last - first) / (frames - 1))
      if (out[out.length - 1] !== s) out.push(s)
    }
    return out
  }

  /** The canvas's history as an APNG of up to `frames` frames (1..maxFrames). */
  function timelapse (canvas: CanvasView, frames: number): Promise<Image> {
    if (!Number.isInteger(frames) || frames < 1 || frames > opts.maxFrames) {
      throw new DomainError('invalid', 'BAD_REQUEST', `frames must be 1..${opts.maxFrames}`)
    }
    const key = `apng ${canvas.id} ${canvas.epoch} ${frames}`
    const hit = lookup(key, (e) => now() - e.builtAt < opts.ttlMs)
    if (hit !== undefined) return hit
    const seqs = frameSeqs(canvas, frames)
    const etag = `"${canvas.epoch}-${seqs[seqs.length - 1]}-${frames}"`
    const promise = serialized(async () => {
      const datas: Buffer[] = []
      let bytes = 0
      let work: Canvas | null = null
      for (const seq of seqs) {
        work = await advance(canvas, work, seq)
        const data = await pngImageData(canvas.width, canvas.height, work.pixels)
        bytes += data.length
        if (bytes > opts.maxBytes) {
          throw new DomainError('too_large', 'TOO_LARGE', `a timelapse of ${frames} frames is over ${opts.maxBytes} bytes; ask for fewer frames`)
        }
        datas.push(data)
      }
      return { png: apngFile(canvas.width, canvas.height, datas, frameMs), etag }
    })
    remember({ key, bytes: 0, builtAt: now(), promise })
    return promise
  }

  return {
    frame,
    timelapse,
    frameSeqs,
    /** counters (tests, the worst-case measurement) */
    stats,
    get cachedBytes () { return cachedBytes },
    get cached () { return cache.size }
  }
}

export type Timelapse = ReturnType<typeof createTimelapse>
