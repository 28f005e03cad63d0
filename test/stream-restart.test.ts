// Stream history outlives the server process (issue 13 point 7): messages
// are written to SQLite in batches, and after a restart on the same DATA_DIR
// `since` replays exactly what came after it (recovered:true), `last` gives
// the newest held, and offsets keep growing (never reused), after a graceful
// stop and after kill -9 once the batch holding them was written.
import { join } from 'node:path'
import Database from 'better-sqlite3'
import t from 'tap'
import { tempDir, token, TestClient, isType, SECRET } from './helper.js'
import { startServer, stop, within } from './process.js'

async function subscriber (ws: string, sub: Record<string, unknown>): Promise<{ c: TestClient, subscribed: any }> {
  const c = new TestClient(ws, { token: token({ sub: 'reader', role: 'viewer' }) })
  await c.opened
  c.send(JSON.stringify({ type: 'subscribe', stream: 'chat:lobby', ...sub }))
  return { c, subscribed: (await c.next(isType('subscribed'))).json }
}

async function replayed (c: TestClient, n: number): Promise<Array<{ offset: number, data: unknown }>> {
  const out = []
  for (let i = 0; i < n; i++) {
    const m = (await c.next(isType('message'))).json
    out.push({ offset: m.offset, data: m.data })
  }
  return out
}

/** Publish over the socket; the `published` ack carries the offset. */
async function publish (c: TestClient, data: unknown): Promise<number> {
  c.send(JSON.stringify({ type: 'publish', stream: 'chat:lobby', data }))
  return (await c.next(isType('published'))).json.offset
}

/** Wait (bounded) until the database file holds the stream message with this offset. */
async function stored (dataDir: string, offset: number): Promise<void> {
  const db = new Database(join(dataDir, 'pixelwire.db'), { readonly: true, fileMustExist: true })
  try {
    await within(new Promise<void>((resolve) => {
      const check = () => {
        const row = db.prepare('SELECT 1 FROM stream_messages WHERE topic = ? AND offset = ?').get('stream:chat:lobby', offset)
        if (row !== undefined) resolve()
        else setTimeout(check, 20)
      }
      check()
    }), 10000, `offset ${offset} written`)
  } finally {
    db.close()
  }
}

t.test('since recovers across a real restart; offsets keep growing; last N', async (t) => {
  const dataDir = tempDir(t)
  const env = { DATA_DIR: dataDir, JWT_SECRET: SECRET, STREAM_FLUSH_MS: '20' }

  // 1. First run: three messages, then a graceful stop (the last batch is written on close).
  const first = await startServer(t, env)
  const painter = new TestClient(first.ws, { token: token({ sub: 'p' }) })
  await painter.opened
  painter.send(JSON.stringify({ type: 'subscribe', stream: 'chat:lobby' }))
  await painter.next(isType('subscribed'))
  const offsets = [await publish(painter, 'one'), await publish(painter, { n: 2 }), await publish(painter, [3])]
  t.ok(offsets[1] === offsets[0] + 1 && offsets[2] === offsets[1] + 1, 'offsets grow by one within a run')
  const code = await stop(first, 'SIGTERM')
  t.equal(code.code, 0, 'graceful stop')

  // 2. Second run: resume from the first message, from the last one, and ask for the last two.
  const second = await startServer(t, env)
  const a = await subscriber(second.ws, { since: offsets[0] })
  t.match(a.subscribed, { type: 'subscribed', stream: 'chat:lobby', recovered: true })
  t.same(await replayed(a.c, 2), [{ offset: offsets[1], data: { n: 2 } }, { offset: offsets[2], data: [3] }], 'the messages after since, as published')
  const b = await subscriber(second.ws, { since: offsets[2] })
  t.equal(b.subscribed.recovered, true, 'up to date: recovered, nothing to replay')
  t.ok(await b.c.nothing(isType('message'), 200))
  const l = await subscriber(second.ws, { last: 2 })
  t.notOk('recovered' in l.subscribed, 'last answers no recovered (it is not a resume)')
  t.same((await replayed(l.c, 2)).map((m) => m.offset), [offsets[1], offsets[2]], 'the newest two held')
  const gap = await subscriber(second.ws, { since: offsets[2] + 1 })
  t.equal(gap.subscribed.recovered, false, 'an offset never stored (lost in a crash, or made up) is not recovered')

  const painter2 = new TestClient(second.ws, { token: token({ sub: 'p' }) })
  await painter2.opened
  const fourth = await publish(painter2, 'four')
  t.ok(fourth > offsets[2], `the next offset ${fourth} is above the last one before the restart ${offsets[2]}`)
  t.same(await replayed(a.c, 1), [{ offset: fourth, data: 'four' }], 'a resumed subscriber goes on live')

  // 3. kill -9 once the batch holding `fourth` is in the database file: nothing written is lost.
  await stored(dataDir, fourth)
  t.equal((await stop(second, 'SIGKILL')).signal, 'SIGKILL')
  const third = await startServer(t, env)
  const c = await subscriber(third.ws, { since: offsets[2] })
  t.equal(c.subscribed.recovered, true, 'recovered after kill -9')
  t.same(await replayed(c.c, 1), [{ offset: fourth, data: 'four' }])
  t.ok(c.subscribed.offset >= fourth, 'the stream offset did not go back')
  for (const x of [painter, painter2, a.c, b.c, l.c, gap.c, c.c]) x.close()
})
