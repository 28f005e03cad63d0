// Cooldowns over real sockets (issue 13 point 3): a fractional PIXEL_RATE is
// a 5-minute cooldown, shown in hello.limits before any refusal; guests of
// one IP share a per-IP budget however many guest tokens they mint.
import t from 'tap'
import { listen, token, TestClient, isHello, isSnapshot, isUpdates, isError, parseUpdates, pixel, rect, drew, type Listening } from '../../helper.js'

const FIVE_MIN = 5 * 60 * 1000

async function open (srv: Listening, tok: string): Promise<{ c: TestClient, hello: any }> {
  const c = new TestClient(srv.wsUrl, { token: tok })
  await c.opened
  const hello = (await c.next(isHello)).json
  await c.next(isSnapshot)
  return { c, hello }
}

t.test('PIXEL_RATE=0.0033 PIXEL_BURST=1: one pixel, then ~5 minutes, in RATE_LIMITED and in hello', async (t) => {
  const srv = await listen(t, { TICK_MS: '20', PIXEL_RATE: '0.0033', PIXEL_BURST: '1' })
  const tok = token({ sub: 'cooling' })
  const first = await open(srv, tok)
  t.teardown(() => first.c.close())
  t.match(first.hello.limits, { pixelRate: 0.0033, pixelBurst: 1, pixelsAvailable: 1, nextPixelInMs: 0 }, 'a fresh user may draw now')
  t.ok(Math.abs(first.hello.limits.nextPixelAt - Date.now()) < 5000, 'nextPixelAt: now')

  first.c.send(pixel(1, 1, 9, 9, 9))
  await drew(first.c, 1, 1)
  first.c.send(pixel(2, 2, 9, 9, 9))
  const limited = (await first.c.next(isError('RATE_LIMITED'))).json
  t.ok(limited.retryAfterMs > FIVE_MIN - 10_000 && limited.retryAfterMs <= Math.ceil(1000 / 0.0033), `retryAfterMs ${limited.retryAfterMs} ≈ 303 s`)
  t.ok(await first.c.nothing((m) => isUpdates(m) && parseUpdates(m.bin as Buffer).px.some((p) => p[0] === 2), 200), 'the second pixel is not drawn')

  // A reconnect (or a second tab) sees the cooldown before trying.
  const again = await open(srv, tok)
  t.teardown(() => again.c.close())
  const l = again.hello.limits
  t.equal(l.pixelsAvailable, 0)
  t.ok(l.nextPixelInMs > FIVE_MIN - 10_000 && l.nextPixelInMs <= 303_031, `nextPixelInMs ${l.nextPixelInMs}`)
  const inMs = l.nextPixelAt - Date.now()
  t.ok(inMs > FIVE_MIN - 10_000 && inMs <= 303_031, `nextPixelAt in ${inMs} ms`)
})

t.test('three guest tokens from one IP share its budget: the third guest\'s big rect is refused', async (t) => {
  const srv = await listen(t, { TICK_MS: '20', PIXEL_RATE: '1', PIXEL_BURST: '4096', GUEST_PIXEL_BURST_PER_IP: '8192', GUEST_PIXEL_RATE_PER_IP: '1' })
  const guests: Array<Awaited<ReturnType<typeof open>>> = []
  for (const name of ['a', 'b', 'c']) {
    const res = await srv.app.inject({ method: 'POST', url: '/api/auth/guest', payload: { name } })
    guests.push(await open(srv, res.json().token))
  }
  t.teardown(() => { for (const g of guests) g.c.close() })
  t.match(guests[0].hello.limits, { pixelRate: 1, pixelBurst: 4096, pixelsAvailable: 4096 })

  guests[0].c.send(rect(0, 0, 64, 64, 1, 1, 1))
  await drew(guests[0].c, 63, 63)
  guests[1].c.send(rect(64, 0, 64, 64, 2, 2, 2))
  await drew(guests[1].c, 127, 63)
  guests[2].c.send(rect(128, 0, 64, 64, 3, 3, 3))
  const limited = (await guests[2].c.next(isError('RATE_LIMITED'))).json
  t.ok(limited.retryAfterMs > 4_000_000, `the IP bucket is empty: retryAfterMs ${limited.retryAfterMs}`)
  t.equal(srv.app.canvasStore.get('main')?.seq, 8192, 'the third rect is not applied')

  const late = await open(srv, (await srv.app.inject({ method: 'POST', url: '/api/auth/guest', payload: { name: 'd' } })).json().token)
  t.teardown(() => late.c.close())
  t.match(late.hello.limits, { pixelsAvailable: 0 }, 'a fourth guest token from the IP starts with nothing either')

  const member = await open(srv, token({ sub: 'member' }))
  t.teardown(() => member.c.close())
  member.c.send(rect(0, 100, 64, 64, 4, 4, 4))
  await drew(member.c, 63, 163)
  t.pass('a user with a token of their own is not bounded by the IP')
})
