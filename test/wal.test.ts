// Issue 10, point 4, with real processes: while another process holds a read
// transaction on the database, a painter makes the WAL grow far past
// WAL_CHECKPOINT_BYTES (SQLite cannot reuse frames a reader may need); once
// the reader ends, the WAL comes back under the bound, even with nobody
// painting any more, and /metrics tells the story. Sizes are asserted, never
// times: waits poll with a deadline.
import { join } from 'node:path'
import t from 'tap'
import { listen, token, TestClient, isHello, stroke } from './helper.js'
import { run, within } from './process.js'
import { samples } from './promtool.js'

const BOUND = 1024 * 1024
const DEADLINE_MS = 30_000

async function until (what: string, pred: () => boolean, each?: () => void): Promise<void> {
  const end = Date.now() + DEADLINE_MS
  while (!pred()) {
    if (Date.now() > end) throw new Error(`${what}: not within ${DEADLINE_MS} ms`)
    each?.()
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}

t.test('the WAL grows behind a reader in another process and shrinks under the bound after it', async (t) => {
  const srv = await listen(t, {
    WAL_CHECKPOINT_BYTES: String(BOUND),
    WAL_CHECK_MS: '50',
    DEFAULT_CANVAS_WIDTH: '1024',
    DEFAULT_CANVAS_HEIGHT: '1024',
    TICK_MS: '20'
  })
  const painter = new TestClient(srv.wsUrl, { token: token({ sub: 'ops', role: 'admin' }) }) // admins have no pixel budget
  await painter.opened
  await painter.next(isHello)
  let n = 0
  /** One stroke of 1,000 random pixels: each commit touches pages all over the log's index. */
  const paint = () => {
    painter.send(stroke(Array.from({ length: 1000 }, () => [Math.floor(Math.random() * 1024), Math.floor(Math.random() * 1024), n & 255, 0, ++n & 255])))
  }
  const scrape = async () => samples(await (await fetch(`${srv.url}/metrics`)).text())

  const reader = run(t, ['test/hold-read.ts', join(srv.dataDir, 'pixelwire.db')], {})
  await within(new Promise<void>((resolve, reject) => {
    reader.child.stdout!.on('data', () => { if (reader.out().startsWith('holding')) resolve() })
    reader.exited.then(() => reject(new Error(`reader exited: ${reader.err()}`)))
  }), DEADLINE_MS, 'reader holding')

  await until('WAL past 4x the bound behind the reader', () => srv.app.wal.bytes() > 4 * BOUND, paint)
  const held = await scrape()
  t.ok(held.get('pixelwire_sqlite_wal_bytes')! > 4 * BOUND, `metrics show the WAL at ${held.get('pixelwire_sqlite_wal_bytes')} bytes`)
  await until('a checkpoint found the reader in the way', () => srv.app.wal.checkpoints.busy > 0)

  // The reader ends; nobody paints any more: only the periodic checkpoint can shrink it now.
  const peak = srv.app.wal.bytes()
  reader.child.kill('SIGTERM')
  t.same(await within(reader.exited, DEADLINE_MS, 'reader exit'), { code: 0, signal: null }, 'the reader ended its transaction and exited')
  await until('WAL back under the bound', () => srv.app.wal.bytes() <= BOUND)
  t.comment(`WAL peak behind the reader ${(peak / 1048576).toFixed(1)} MiB; after it ${(srv.app.wal.bytes() / 1048576).toFixed(1)} MiB (bound ${BOUND / 1048576} MiB)`)

  const after = await scrape()
  t.ok(after.get('pixelwire_sqlite_wal_bytes')! <= BOUND, 'metrics show it under the bound')
  t.ok(after.get('pixelwire_sqlite_wal_checkpoints_total{result="busy"}')! > 0, 'busy checkpoints were counted')
  t.ok(after.get('pixelwire_sqlite_wal_checkpoints_total{result="truncated"}')! > 0, 'and the truncating one')

  painter.close()
})
