// A watcher of a canvas over a real WebSocket: records every change it is
// shown, seq by seq (the snapshot it started from, then each UPDATES frame
// split into its seqs), and fails loudly on a gap or a duplicate. Used by
// the cluster tests to compare what clients on different nodes saw.
import { TestClient, isHello, isSnapshot, isUpdates, parseSnapshot, parseUpdates, pixel, token, type Msg } from '../helper.js'

export interface Watcher {
  client: TestClient
  hello: any
  /** the snapshot's seq (or `since` on a replay) the changes continue from */
  start: number
  /** seq of the last change shown */
  seq: number
  /** changes shown, in order: changes[i] is seq start + 1 + i, as "x,y,r,g,b" */
  changes: string[]
  /** problems seen (gap, duplicate): must stay empty */
  faults: string[]
  snapshot: Buffer | null
}

/** Connect to `ws` (a node's /ws), optionally resuming, and record from then on. */
export async function watch (ws: string, sub: string, opts: { role?: string, since?: number, epoch?: string } = {}): Promise<Watcher> {
  const q = opts.since !== undefined ? `?since=${opts.since}&epoch=${opts.epoch ?? ''}` : ''
  const client = new TestClient(ws + q, { token: token({ sub, role: opts.role ?? 'painter', name: sub }) })
  await client.opened
  const hello = (await client.next(isHello, 10000)).json
  const w: Watcher = { client, hello, start: -1, seq: -1, changes: [], faults: [], snapshot: null }
  if (hello.resume === 'replay') {
    w.start = w.seq = opts.since!
  } else {
    const snap = (await client.next(isSnapshot, 10000)).bin!
    w.snapshot = snap
    w.start = w.seq = parseSnapshot(snap).seq
  }
  // Everything after the hello (and snapshot) goes through onFrame, in arrival order.
  const take = (m: Msg): boolean => {
    if (isUpdates(m)) onFrame(w, m.bin!)
    return false
  }
  for (const m of client.msgs.splice(0)) take(m)
  client.ws.on('message', (data: Buffer, isBinary: boolean) => { if (isBinary && data[0] === 0x11) onFrame(w, Buffer.from(data)) })
  return w
}

function onFrame (w: Watcher, frame: Buffer): void {
  const u = parseUpdates(frame)
  const first = u.seq - u.px.length + 1
  if (first !== w.seq + 1) w.faults.push(`frame (${first - 1}, ${u.seq}] after seq ${w.seq}: ${first <= w.seq ? 'duplicate' : 'gap'}`)
  for (const p of u.px) w.changes.push(p.join(','))
  w.seq = u.seq
}

/** One painter's draw: `n` single pixels on row `row`, colour encoding (painter, i). */
export function paintRow (c: TestClient, painter: number, row: number, n: number): void {
  for (let i = 0; i < n; i++) c.send(pixel(i % 256, row + Math.floor(i / 256), painter, i & 0xff, (i >> 8) & 0xff))
}
