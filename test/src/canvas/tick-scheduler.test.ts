// The adaptive tick alone, driven beat by beat with numbers: no timer, no
// clock, no server.
import t from 'tap'
import { SHRINK_AFTER, TICK_SEND_FACTOR, TickScheduler, nextTickMs } from '../../../src/canvas/tick-scheduler.js'

/** Beat a whole rotation (`slots` beats), each writing frames and sending for sendMs; returns the slots it visited. */
function rotation (s: TickScheduler, frames: number, sendMs = 0): number[] {
  const visited: number[] = []
  const n = s.slots
  for (let i = 0; i < n; i++) {
    visited.push(s.slot)
    s.endBeat(frames / n, sendMs / n)
  }
  return visited
}

t.test('a fixed tick (no max above the tick) never stretches, whatever it writes or spends', async (t) => {
  for (const config of [{ tickMs: 50 }, { tickMs: 50, tickMaxMs: 20, frameBudget: 1 }]) {
    const s = new TickScheduler(config)
    t.equal(s.maxSlots, 1)
    for (let i = 0; i < 5; i++) rotation(s, 1_000_000, 10_000)
    t.same([s.slots, s.periodMs, s.stretched, s.slot], [1, 50, 0, 0])
  }
})

t.test('the frame budget stretches the period to frames / budget, in whole beats, up to the max', async (t) => {
  const s = new TickScheduler({ tickMs: 10, tickMaxMs: 400, frameBudget: 200 })
  t.equal(s.maxSlots, 40)
  t.same(rotation(s, 6), [0], 'one slot: every beat sends everyone')
  t.equal(s.periodMs, 30, '6 frames at 200/s: 30 ms')
  t.equal(s.slots, 3)
  t.equal(s.stretched, 1)
  t.same(rotation(s, 6), [0, 1, 2], 'a rotation visits every slot once, in order')
  t.same(rotation(s, 7), [0, 1, 2], '35 ms rounds to 3 beats')
  t.equal(s.slots, 3)
  rotation(s, 1_000_000)
  t.equal(s.slots, 40, 'capped at TICK_MAX_MS')
  t.equal(s.periodMs, 400)
})

t.test('the CPU time spent sending stretches the period to it; a rotation of more slots grows at once', async (t) => {
  const s = new TickScheduler({ tickMs: 50, tickMaxMs: 1000 })
  rotation(s, 0, 45)
  t.equal(s.slots, 1, 'sending within the tick does not stretch it')
  rotation(s, 0, 140)
  t.equal(s.periodMs, 150, '140 ms of sending: three beats')
  rotation(s, 0, 400)
  t.equal(s.periodMs, 400, 'more at once')
})

t.test(`fewer slots only after ${SHRINK_AFTER} rotations in a row want fewer, then the most of them wanted`, async (t) => {
  const s = new TickScheduler({ tickMs: 10, tickMaxMs: 500, frameBudget: 100 })
  rotation(s, 10) // 100 ms
  t.equal(s.slots, 10)
  rotation(s, 6)
  rotation(s, 4)
  t.equal(s.slots, 10, 'two rotations wanting fewer: kept')
  rotation(s, 10)
  t.equal(s.slots, 10, 'one wanting as many resets the count')
  rotation(s, 3)
  rotation(s, 5)
  t.equal(s.slots, 10)
  rotation(s, 2)
  t.equal(s.slots, 5, 'the third in a row: the most the three wanted')
  const stretched = s.stretched
  for (let i = 0; i < SHRINK_AFTER; i++) rotation(s, 0)
  t.equal(s.slots, 1, 'quiet: back to the configured tick')
  t.equal(s.periodMs, 10)
  rotation(s, 0)
  t.equal(s.stretched, stretched + SHRINK_AFTER - 1, 'a rotation counts as stretched while it ends with more than one slot')
})

t.test('reset: one slot and the next beat sends everyone (the last flush at stop)', async (t) => {
  const s = new TickScheduler({ tickMs: 10, tickMaxMs: 100, frameBudget: 100 })
  rotation(s, 5)
  s.endBeat(0, 0)
  s.endBeat(0, 0)
  t.equal(s.slot, 2)
  s.reset()
  t.same([s.slots, s.slot, s.periodMs], [1, 0, 10])
})

t.test('nextTickMs: a frame budget stretches the tick for many clients', async (t) => {
  t.equal(nextTickMs(50, 1000, 10_000, 60_000), 1000 * 10_000 / 60_000)
  t.equal(nextTickMs(50, 1000, 100, 60_000), 50, 'few clients: the configured tick')
  t.equal(nextTickMs(50, 1000, 10_000, 0), 50, 'budget 0: off')
  t.equal(nextTickMs(50, 100, 10_000, 1000), 100, 'capped')
  t.equal(nextTickMs(50, 20, 10_000, 1000), 50, 'a max below the tick means a fixed tick')
  t.equal(nextTickMs(50, 1000, 0, 0, 100), 100 * TICK_SEND_FACTOR, 'sending took 100 ms')
  t.equal(nextTickMs(50, 1000, 0, 0, 10), 50)
  t.equal(nextTickMs(50, 1000, 0, 0, 45), 50, 'sending within the tick does not stretch it')
  t.equal(nextTickMs(50, 1000, 0, 0, 80), 80, 'sending past the tick: the tick is at least the sending')
  t.equal(nextTickMs(50, 1000, 0, 0, 1900), 1000, 'capped')
})
