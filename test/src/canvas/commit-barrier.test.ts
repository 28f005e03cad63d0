// The commit barrier's bookkeeping without a server: settle in order, answer
// only once shown, bounded, forgotten on close.
import t from 'tap'
import { CommitBarrier, type SyncedReply } from '../../../src/canvas/commit-barrier.js'

function answers (b: CommitBarrier, shown: Record<number, number | null>): Array<[number, SyncedReply]> {
  const out: Array<[number, SyncedReply]> = []
  b.answer((id) => shown[id], (id, r) => out.push([id, r]))
  return out
}

t.test('nothing drawn, or everything settled and shown: answered at once', async (t) => {
  const b = new CommitBarrier(4)
  t.same(b.sync(1, { id: 'a' }, 5), { type: 'synced', id: 'a', seq: 5 }, 'the seq the client was sent')
  t.equal(b.sync(2, {}, null), 'queued', 'still waiting for its SNAPSHOT: waits')
  t.same(answers(b, { 2: null }), [])
  t.same(answers(b, { 2: 7 }), [[2, { type: 'synced', seq: 7 }]], 'answered with the SNAPSHOT\'s seq once sent')
  b.drew(1, 3)
  b.committed([{ connId: 1, count: 3 }], 10)
  t.same(b.sync(1, { id: null }, 10), { type: 'synced', id: null, seq: 10 }, 'id null is echoed')
  t.equal(b.sync(1, {}, 9), 'queued', 'its last commit not shown yet: waits')
  t.same(answers(b, { 1: 9 }), [])
  t.same(answers(b, { 1: 10 }), [[1, { type: 'synced', seq: 10 }]])
})

t.test('waits for its pixels to settle, then to be shown; answers in order', async (t) => {
  const b = new CommitBarrier(4)
  b.drew(1, 2)
  t.equal(b.sync(1, { id: 1 }, 0), 'queued')
  b.drew(1, 5)
  t.equal(b.sync(1, { id: 2 }, 0), 'queued')
  b.drew(2, 1) // another connection: not waited for
  t.same(answers(b, { 1: 100 }), [], 'nothing settled: nothing answered, whatever was shown')
  // a batch that ends mid-way through the second draw
  b.committed([{ connId: 2, count: 1 }, { connId: 1, count: 4 }], 5)
  t.same(answers(b, { 1: 4, 2: 5 }), [], 'settled at seq 5, shown only 4')
  t.same(answers(b, { 1: 5 }), [[1, { type: 'synced', id: 1, seq: 5 }]], 'the first, once shown')
  b.committed([{ connId: 1, count: 3 }], 8)
  t.same(answers(b, { 1: 9 }), [[1, { type: 'synced', id: 2, seq: 9 }]], 'the second, with the seq shown')
  t.equal(b.waiting, 0)
})

t.test('refused by storage settles too; earlier commits must still be shown', async (t) => {
  const b = new CommitBarrier(4)
  b.drew(1, 1)
  b.committed([{ connId: 1, count: 1 }], 3)
  b.drew(1, 2)
  t.equal(b.sync(1, { id: 'x' }, 3), 'queued')
  b.refused([{ connId: 1, count: 2 }])
  t.same(answers(b, { 1: 3 }), [[1, { type: 'synced', id: 'x', seq: 3 }]])
})

t.test('bounded per connection', async (t) => {
  const b = new CommitBarrier(2)
  b.drew(1, 1)
  t.equal(b.sync(1, {}, 0), 'queued')
  t.equal(b.sync(1, {}, 0), 'queued')
  t.equal(b.sync(1, {}, 0), 'full')
  t.match(b.sync(2, {}, 0), { type: 'synced' }, 'another connection is not affected')
  b.committed([{ connId: 1, count: 1 }], 1)
  t.equal(answers(b, { 1: 1 }).length, 2)
  t.equal(b.sync(1, {}, 0), 'queued', 'room again once answered (last commit not shown at 0)')
})

t.test('a closed connection leaves nothing behind, even when its pixels commit later', async (t) => {
  const b = new CommitBarrier(4)
  b.drew(1, 3)
  b.sync(1, { id: 'big'.repeat(100) }, 0)
  b.sync(1, {}, 0)
  t.equal(b.size, 1)
  t.equal(b.waiting, 2)
  b.forget(1)
  t.equal(b.size, 0)
  t.equal(b.waiting, 0)
  b.committed([{ connId: 1, count: 3 }], 3)
  b.refused([{ connId: 1, count: 1 }])
  t.equal(b.size, 0, 'a later commit of its pixels does not bring it back')
  t.same(answers(b, { 1: 3 }), [])
})
