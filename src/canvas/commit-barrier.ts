// The commit barrier (contract §5, v1.1 `sync`): per connection of one
// canvas, how many of its pixels are accepted and not yet settled, and its
// syncs waiting for them. A map by connection id, owned by the canvas lane.
//
// Invariants:
// - a connection's pixels settle in the order it drew them (the intake is
//   FIFO and a commit takes the oldest pixels), so "settled ≥ the count drawn
//   before the sync" means every draw op before it was committed or refused;
// - a sync is answered only once the client was SENT the canvas up to the
//   commit that settled its last pixel (`shown(connId) >= need`): the UPDATES
//   (or catch-up, or snapshot) frame covering it is queued first;
// - answers leave in the order the syncs came (one FIFO per connection);
// - at most `maxPending` syncs wait per connection; `forget` drops them all.

/** A waiting sync: its echoed id, the pixel count it waits for, then the seq it must have been shown. */
interface Waiting { id: unknown, hasId: boolean, drawn: number, need: number | null }

interface ConnState {
  /** pixels accepted into the intake, ever */
  drawn: number
  /** of those, committed or refused by storage */
  settled: number
  /** `to` of the last commit that held some of its pixels (0: none yet) */
  lastSeq: number
  waiting: Waiting[]
}

export interface SyncedReply { type: 'synced', id?: unknown, seq: number }

export class CommitBarrier {
  private readonly conns = new Map<number, ConnState>()
  /** syncs waiting over all connections: a beat with none does no work */
  private waitingCount = 0

  constructor (private readonly maxPending: number) {}

  /** Connections holding state (tests, metrics). */
  get size (): number { return this.conns.size }

  /** Syncs waiting, over all connections. */
  get waiting (): number { return this.waitingCount }

  private state (connId: number): ConnState {
    let s = this.conns.get(connId)
    if (s === undefined) {
      s = { drawn: 0, settled: 0, lastSeq: 0, waiting: [] }
      this.conns.set(connId, s)
    }
    return s
  }

  /** `pixels` of the connection's were accepted into the intake. */
  drew (connId: number, pixels: number): void { this.state(connId).drawn += pixels }

  /** A batch committed as seqs (.., to]: its runs' pixels are settled at `to`. */
  committed (runs: ReadonlyArray<{ connId: number, count: number }>, to: number): void {
    for (const run of runs) {
      const s = this.conns.get(run.connId)
      if (s === undefined) continue // closed: forgotten
      s.settled += run.count
      s.lastSeq = to
      this.settle(s)
    }
  }

  /** A batch refused by storage: its pixels are settled, nothing new to show. */
  refused (runs: ReadonlyArray<{ connId: number, count: number }>): void {
    for (const run of runs) {
      const s = this.conns.get(run.connId)
      if (s === undefined) continue
      s.settled += run.count
      this.settle(s)
    }
  }

  /** Syncs whose pixels are all settled now wait only for the last commit to be shown. */
  private settle (s: ConnState): void {
    for (const w of s.waiting) {
      if (w.need !== null) continue
      if (s.settled < w.drawn) break
      w.need = s.lastSeq
    }
  }

  /**
   * A sync arrived. Returns the reply when it can be answered at once
   * (nothing pending, and the last commit already shown; `shown` is the seq
   * the client was sent, null while it waits for its SNAPSHOT), 'queued', or
   * 'full' when `maxPending` syncs already wait.
   */
  sync (connId: number, msg: { id?: unknown }, shown: number | null): SyncedReply | 'queued' | 'full' {
    const hasId = 'id' in msg
    // Still waiting for its SNAPSHOT: answered once sent, so seq is never past what it was shown.
    const s = this.conns.get(connId) ?? (shown === null ? this.state(connId) : undefined)
    if (s === undefined || (s.waiting.length === 0 && s.settled === s.drawn && shown !== null && shown >= s.lastSeq)) {
      return reply(hasId, msg.id, shown ?? 0)
    }
    if (s.waiting.length >= this.maxPending) return 'full'
    s.waiting.push({ id: msg.id, hasId, drawn: s.drawn, need: s.settled >= s.drawn ? s.lastSeq : null })
    this.waitingCount++
    return 'queued'
  }

  /**
   * Answer, in order, the syncs that are settled and shown. `shown(connId)`
   * is the seq the client was sent (null: syncing, undefined: gone). Call it
   * after the beat's delivery, so the covering UPDATES frame is queued first.
   */
  answer (shown: (connId: number) => number | null | undefined, send: (connId: number, reply: SyncedReply) => void): void {
    if (this.waitingCount === 0) return
    for (const [connId, s] of this.conns) {
      if (s.waiting.length === 0) continue
      const seq = shown(connId)
      if (seq === undefined || seq === null) continue
      while (s.waiting.length > 0) {
        const w = s.waiting[0]
        if (w.need === null || seq < w.need) break
        s.waiting.shift()
        this.waitingCount--
        send(connId, reply(w.hasId, w.id, seq))
      }
    }
  }

  /** The connection left: drop its state and its waiting syncs. Its pixels still commit; nobody is told. */
  forget (connId: number): void {
    const s = this.conns.get(connId)
    if (s === undefined) return
    this.waitingCount -= s.waiting.length
    this.conns.delete(connId)
  }
}

function reply (hasId: boolean, id: unknown, seq: number): SyncedReply {
  return hasId ? { type: 'synced', id, seq } : { type: 'synced', seq }
}
