// Moderation (contract §10, issue 13 point 1) over real sockets: bans (4403,
// 403 BANNED handshakes and guest tokens, expiry), guest renewal (same sub,
// same budget), region locks (LOCKED), revert (pixels back, shown as
// UPDATES), and the audit log of every admin write.
import t from 'tap'
import { createDecoder } from 'fast-jwt'
import { listen, token, handshake, collect, TestClient, isHello, isSnapshot, isUpdates, isError, parseUpdates, pixel, rect, stroke, type Listening } from '../../helper.js'
import { asAdmin, bearer, isType, join } from './helper.js'

const decode = createDecoder() as (token: string) => Record<string, any>
const SMALL = { DEFAULT_CANVAS_WIDTH: '16', DEFAULT_CANVAS_HEIGHT: '16' }

const post = (srv: Listening, url: string, payload: unknown, headers: Record<string, string> = asAdmin) => srv.app.inject({ method: 'POST', url, headers, payload: payload as object })
const del = (srv: Listening, url: string, headers: Record<string, string> = asAdmin) => srv.app.inject({ method: 'DELETE', url, headers })
const get = (srv: Listening, url: string, headers: Record<string, string> = asAdmin) => srv.app.inject({ url, headers })

/** Draw and wait until the server committed (or refused) it: the commit barrier. */
async function drawSynced (c: TestClient, op: Buffer): Promise<number> {
  c.send(op)
  c.send(JSON.stringify({ type: 'sync' }))
  return (await c.next(isType('synced'))).json.seq
}

t.test('ban: 201, connections closed with 4403, handshakes 403 BANNED, listed, lifted', async (t) => {
  const srv = await listen(t, SMALL)
  const { c: a1 } = await join(srv, { sub: 'mallory', role: 'painter' })
  const { c: a2 } = await join(srv, { sub: 'mallory', role: 'painter' })
  const { c: other } = await join(srv, { sub: 'bob', role: 'painter' })
  t.teardown(() => other.close())

  const res = await post(srv, '/api/admin/bans', { user: 'mallory', seconds: 600, reason: 'griefing' })
  t.equal(res.statusCode, 201)
  const ban = res.json()
  t.match(ban, { user: 'mallory', reason: 'griefing', by: 'root', ip: null })
  t.equal(Date.parse(ban.until) - Date.parse(ban.at), 600_000, 'until = at + seconds')
  t.same(await a1.closed, { code: 4403, reason: 'banned' }, 'closed at once with 4403')
  t.same(await a2.closed, { code: 4403, reason: 'banned' }, 'every connection of the user')
  other.send(JSON.stringify({ type: 'ping', id: 1 }))
  t.equal((await other.next(isType('pong'))).json.id, 1, 'another user is untouched')

  const hs = await handshake(`${srv.wsUrl}?token=${token({ sub: 'mallory' })}`)
  t.equal(hs.status, 403)
  t.match(JSON.parse(hs.body), { error: 'BANNED', message: /^banned until .*: griefing$/ })
  const fresh = await handshake(`${srv.wsUrl}?token=${token({ sub: 'mallory', role: 'viewer' }, { ttlSec: 7200 })}`)
  t.equal(fresh.status, 403, 'any token of the user, a new one too')

  const list = await get(srv, '/api/admin/bans')
  t.equal(list.statusCode, 200)
  t.same(list.json(), [ban])

  const again = await post(srv, '/api/admin/bans', { user: 'mallory' })
  t.equal(again.statusCode, 201, 'banning again replaces the ban')
  t.equal(again.json().until, null, 'no seconds: until lifted')
  t.equal((await get(srv, '/api/admin/bans')).json().length, 1)

  t.equal((await del(srv, '/api/admin/bans/mallory')).statusCode, 204)
  t.same((await get(srv, '/api/admin/bans')).json(), [])
  t.equal((await handshake(`${srv.wsUrl}?token=${token({ sub: 'mallory' })}`)).status, 101, 'lifted: welcome back')
  const none = await del(srv, '/api/admin/bans/mallory')
  t.equal(none.statusCode, 404)
  t.equal(none.json().error, 'BAN_NOT_FOUND')
})

t.test('ban: bad bodies 400, self-ban 409, non-admin 403, expiry honoured', async (t) => {
  const srv = await listen(t, SMALL)
  for (const body of [{}, { user: '' }, { user: 'x', seconds: 0 }, { user: 'x', seconds: 1.5 }, { user: 'x'.repeat(129) }, { user: 'x', reason: 'r'.repeat(501) }]) {
    const res = await post(srv, '/api/admin/bans', body)
    t.equal(res.statusCode, 400, JSON.stringify(body).slice(0, 60))
    t.equal(res.json().error, 'BAD_REQUEST')
  }
  const self = await post(srv, '/api/admin/bans', { user: 'root' })
  t.equal(self.statusCode, 409)
  t.equal(self.json().error, 'CANNOT_BAN_SELF')
  t.equal((await post(srv, '/api/admin/bans', { user: 'x' }, bearer({ role: 'painter' }))).statusCode, 403)
  t.equal((await post(srv, '/api/admin/bans', { user: 'x' }, {})).statusCode, 401)

  t.equal((await post(srv, '/api/admin/bans', { user: 'brief', seconds: 1 })).statusCode, 201)
  t.equal((await handshake(`${srv.wsUrl}?token=${token({ sub: 'brief' })}`)).status, 403)
  await new Promise((resolve) => setTimeout(resolve, 1100))
  t.equal((await handshake(`${srv.wsUrl}?token=${token({ sub: 'brief' })}`)).status, 101, 'the ban ended: no lifting needed')
  t.same((await get(srv, '/api/admin/bans')).json(), [], 'an ended ban is not listed')
  t.equal((await del(srv, '/api/admin/bans/brief')).statusCode, 404, 'nor liftable')

  // A banned admin is refused by the admin API too.
  const other = bearer({ sub: 'deputy', role: 'admin' })
  t.equal((await post(srv, '/api/admin/bans', { user: 'deputy' })).statusCode, 201)
  const refused = await get(srv, '/api/admin/bans', other)
  t.equal(refused.statusCode, 403)
  t.equal(refused.json().error, 'BANNED')
})

t.test('guests: renewal keeps sub, name and budget; a banned guest gets no token from its address', async (t) => {
  const srv = await listen(t, { ...SMALL, PIXEL_RATE: '0.001', PIXEL_BURST: '3' })
  const issued = await srv.app.inject({ method: 'POST', url: '/api/auth/guest', payload: { name: 'Gus' }, remoteAddress: '10.1.2.3' })
  t.equal(issued.statusCode, 200)
  const first = issued.json().token as string
  const claims = decode(first)
  t.match(claims.sub, /^guest:/)

  // Spend the whole budget (3 pixels), then renew.
  const c = new TestClient(srv.wsUrl, { token: first })
  t.teardown(() => c.close())
  t.equal((await c.next(isHello)).json.limits.pixelsAvailable, 3)
  await c.next(isSnapshot)
  await drawSynced(c, rect(0, 0, 3, 1, 1, 2, 3))
  c.send(pixel(5, 5, 0, 0, 0))
  t.ok(await c.next(isError('RATE_LIMITED')), 'budget spent')

  await new Promise((resolve) => setTimeout(resolve, 1100)) // a later exp (seconds)
  const renewed = await srv.app.inject({ method: 'POST', url: '/api/auth/guest/renew', headers: { authorization: `Bearer ${first}` }, remoteAddress: '10.1.2.3' })
  t.equal(renewed.statusCode, 200)
  const second = renewed.json().token as string
  const next = decode(second)
  t.equal(next.sub, claims.sub, 'same sub')
  t.equal(next.name, 'Gus', 'same name')
  t.equal(next.role, 'painter')
  t.ok(next.exp > claims.exp, 'later exp')

  c.send(JSON.stringify({ type: 'auth', token: second }))
  t.equal((await c.next(isType('authenticated'))).json.exp, next.exp, 'in-band auth takes the renewed token')
  const c2 = new TestClient(srv.wsUrl, { token: second })
  t.teardown(() => c2.close())
  const hello = (await c2.next(isHello)).json
  t.equal(hello.user.id, claims.sub)
  t.equal(hello.limits.pixelsAvailable, 0, 'the budget followed the guest: still spent')
  t.ok(hello.limits.nextPixelInMs > 0)

  // Renewal refusals.
  const renew = (headers: Record<string, string>) => srv.app.inject({ method: 'POST', url: '/api/auth/guest/renew', headers })
  t.equal((await renew({})).statusCode, 401)
  t.equal((await renew({ authorization: 'Bearer junk' })).statusCode, 401)
  t.equal((await renew({ authorization: `Bearer ${token({ sub: 'guest:x' }, { ttlSec: -60 })}` })).json().error, 'TOKEN_EXPIRED')
  const notGuest = await renew(bearer({ sub: 'alice' }))
  t.equal(notGuest.statusCode, 403)
  t.equal(notGuest.json().error, 'FORBIDDEN')

  // Ban the guest: its sockets close, its tokens and its address are refused.
  const ban = await post(srv, '/api/admin/bans', { user: claims.sub, seconds: 60 })
  t.equal(ban.json().ip, '10.1.2.3', 'the address its token went to')
  t.equal((await c.closed).code, 4403)
  t.equal((await c2.closed).code, 4403)
  const again = await srv.app.inject({ method: 'POST', url: '/api/auth/guest', payload: { name: 'Gus2' }, remoteAddress: '10.1.2.3' })
  t.equal(again.statusCode, 403)
  t.equal(again.json().error, 'BANNED')
  const renewBanned = await srv.app.inject({ method: 'POST', url: '/api/auth/guest/renew', headers: { authorization: `Bearer ${second}` }, remoteAddress: '10.9.9.9' })
  t.equal(renewBanned.statusCode, 403)
  t.equal(renewBanned.json().error, 'BANNED')
  t.equal((await handshake(`${srv.wsUrl}?token=${second}`)).status, 403)
  const elsewhere = await srv.app.inject({ method: 'POST', url: '/api/auth/guest', payload: { name: 'Other' }, remoteAddress: '10.4.4.4' })
  t.equal(elsewhere.statusCode, 200, 'another address still gets guest tokens')
  t.equal((await del(srv, `/api/admin/bans/${encodeURIComponent(claims.sub)}`)).statusCode, 204)
  const lifted = await srv.app.inject({ method: 'POST', url: '/api/auth/guest', payload: { name: 'Gus3' }, remoteAddress: '10.1.2.3' })
  t.equal(lifted.statusCode, 200, 'lifted: the address gets tokens again')
})

t.test('in-band auth: a banned user\'s replacement token is refused', async (t) => {
  // The ban closes the socket; a replacement sent before the close lands is refused by the same check.
  const srv = await listen(t, SMALL)
  const { c } = await join(srv, { sub: 'eve', role: 'painter' })
  t.teardown(() => c.close())
  srv.app.bans.ban({ user: 'eve' }, 'root')
  c.send(JSON.stringify({ type: 'auth', token: token({ sub: 'eve' }, { ttlSec: 7200 }) }))
  t.equal((await c.closed).code, 4403)
  t.equal(srv.app.bans.of('eve')?.user, 'eve')
})

t.test('locks: 201, LOCKED for non-admins (nothing applied), admins draw, list, lift, 400/404/409', async (t) => {
  const srv = await listen(t, { ...SMALL, MAX_LOCKS_PER_CANVAS: '2' })
  const { c: painter } = await join(srv, { sub: 'pat', role: 'painter' })
  const { c: admin } = await join(srv, { sub: 'root', role: 'admin' })
  const { c: watcher } = await join(srv, { sub: 'wat', role: 'viewer' })
  t.teardown(() => { painter.close(); admin.close(); watcher.close() })

  const res = await post(srv, '/api/admin/canvases/main/locks', { x: 4, y: 4, w: 4, h: 2, reason: 'logo' })
  t.equal(res.statusCode, 201)
  const lock = res.json()
  t.match(lock, { id: Number, canvas: 'main', x: 4, y: 4, w: 4, h: 2, reason: 'logo', by: 'root' })

  const seq0 = await drawSynced(painter, pixel(0, 0, 9, 9, 9))
  for (const [what, op] of [['a pixel inside', pixel(7, 5, 1, 1, 1)], ['a rect overlapping', rect(0, 0, 5, 5, 1, 1, 1)], ['a stroke with one pixel inside', stroke([[0, 1, 1, 1, 1], [4, 4, 1, 1, 1]])]] as const) {
    painter.send(op)
    const err = (await painter.next(isError('LOCKED'))).json
    t.match(err.message, /lock \d+: logo/, what)
  }
  t.equal(await drawSynced(painter, pixel(8, 4, 2, 2, 2)), seq0 + 1, 'just outside the lock: applied; nothing locked was')
  const seen = parseUpdates((await watcher.next(isUpdates)).bin as Buffer)
  const more = watcher.msgs.filter(isUpdates).flatMap((m) => parseUpdates(m.bin as Buffer).px)
  t.notOk([...seen.px, ...more].some(([x, y]) => x >= 4 && x < 8 && y >= 4 && y < 6), 'the watcher saw no locked pixel')
  t.equal(await drawSynced(admin, pixel(5, 5, 3, 3, 3)), seq0 + 2, 'an admin draws in a locked region')

  t.same((await get(srv, '/api/admin/canvases/main/locks')).json(), [lock])
  t.equal((await post(srv, '/api/admin/canvases/main/locks', { x: 0, y: 0, w: 1, h: 1 })).statusCode, 201)
  const full = await post(srv, '/api/admin/canvases/main/locks', { x: 0, y: 0, w: 1, h: 1 })
  t.equal(full.statusCode, 409)
  t.equal(full.json().error, 'TOO_MANY_LOCKS')

  t.equal((await del(srv, `/api/admin/canvases/main/locks/${lock.id}`)).statusCode, 204)
  t.equal(await drawSynced(painter, pixel(7, 5, 1, 1, 1)), seq0 + 3, 'lifted: the region takes draws again')
  t.equal((await del(srv, `/api/admin/canvases/main/locks/${lock.id}`)).json().error, 'LOCK_NOT_FOUND')
  t.equal((await del(srv, `/api/admin/canvases/main/locks/${lock.id}`)).statusCode, 404)
  t.equal((await del(srv, '/api/admin/canvases/main/locks/x')).statusCode, 400)

  const oob = await post(srv, '/api/admin/canvases/main/locks', { x: 10, y: 10, w: 7, h: 1 })
  t.equal(oob.statusCode, 400)
  t.equal(oob.json().error, 'OUT_OF_BOUNDS')
  t.equal((await post(srv, '/api/admin/canvases/main/locks', { x: 0, y: 0, w: 0, h: 1 })).statusCode, 400)
  t.equal((await post(srv, '/api/admin/canvases/main/locks', { x: 0, y: 0, w: 1 })).statusCode, 400)
  t.equal((await post(srv, '/api/admin/canvases/nope/locks', { x: 0, y: 0, w: 1, h: 1 })).statusCode, 404)
  t.equal((await get(srv, '/api/admin/canvases/nope/locks')).statusCode, 404)
})

t.test('locks: a client that keeps drawing into a lock spends its rate-abuse budget (4429), not the bad-message one', async (t) => {
  const srv = await listen(t, { ...SMALL, RATE_ABUSE_LIMIT: '3', BAD_MESSAGE_LIMIT: '1' })
  t.equal((await post(srv, '/api/admin/canvases/main/locks', { x: 0, y: 0, w: 4, h: 4 })).statusCode, 201)
  const { c } = await join(srv, { sub: 'pat', role: 'painter' })
  t.teardown(() => c.close())
  for (let i = 0; i < 3; i++) {
    c.send(pixel(i, i, 0, 0, 0))
    await c.next(isError('LOCKED'))
  }
  t.equal(c.ws.readyState, c.ws.OPEN, 'three refusals: past BAD_MESSAGE_LIMIT, still open')
  c.send(pixel(3, 3, 0, 0, 0))
  t.equal((await c.closed).code, 4429, 'the fourth: rate-limit abuse')
})

t.test('locks outlive a restart', async (t) => {
  const srv = await listen(t, SMALL)
  t.equal((await post(srv, '/api/admin/canvases/main/locks', { x: 0, y: 0, w: 2, h: 2 })).statusCode, 201)
  await srv.app.close()
  const again = await listen(t, { ...SMALL, DATA_DIR: srv.dataDir })
  const { c } = await join(again, { sub: 'pat', role: 'painter' })
  t.teardown(() => c.close())
  c.send(pixel(1, 1, 0, 0, 0))
  t.ok(await c.next(isError('LOCKED')))
})

t.test('revert: the user\'s current pixels go back, as UPDATES to a watcher; others\' stay', async (t) => {
  const srv = await listen(t, SMALL)
  const { c: bob } = await join(srv, { sub: 'bob', role: 'painter' })
  const { c: vandal } = await join(srv, { sub: 'vandal', role: 'painter' })
  const { c: watcher } = await join(srv, { sub: 'wat', role: 'viewer' })
  t.teardown(() => { bob.close(); vandal.close(); watcher.close() })

  await drawSynced(bob, pixel(0, 0, 200, 0, 0)) // red under the vandal
  await drawSynced(vandal, pixel(0, 0, 0, 0, 0))
  await drawSynced(vandal, pixel(0, 0, 1, 1, 1)) // twice on the same pixel: back to bob's red
  await drawSynced(vandal, pixel(1, 1, 0, 0, 0)) // never drawn before: back to white
  await drawSynced(vandal, pixel(2, 2, 0, 0, 0))
  const before = await drawSynced(bob, pixel(2, 2, 0, 200, 0)) // bob painted over it: not the vandal's

  const res = await post(srv, '/api/admin/canvases/main/revert', { user: 'vandal' })
  t.equal(res.statusCode, 200)
  t.same(res.json(), { reverted: 2, seq: before + 2 })
  const frame = parseUpdates((await watcher.next((m) => isUpdates(m) && parseUpdates(m.bin as Buffer).seq > before)).bin as Buffer)
  t.equal(frame.seq, before + 2, 'the UPDATES after the draws: new changes with new seqs')
  t.same(frame.px.sort(), [[0, 0, 200, 0, 0], [1, 1, 255, 255, 255]])
  const px = (await get(srv, '/api/canvases/main/pixels/0/0', {})).json()
  t.match(px, { color: '#c80000', seq: before + 1, user: 'admin:root' }, 'recorded as the admin\'s change')
  t.equal((await get(srv, '/api/canvases/main/pixels/2/2', {})).json().color, '#00c800', 'bob\'s pixel stays')

  const twice = await post(srv, '/api/admin/canvases/main/revert', { user: 'vandal' })
  t.same(twice.json(), { reverted: 0, seq: before + 2 }, 'nothing of the vandal is left')
  const client = new TestClient(srv.wsUrl, { token: token({ sub: 'late', role: 'viewer' }) })
  t.teardown(() => client.close())
  await client.next(isHello)
  t.ok(await client.next(isSnapshot), 'a new client\'s snapshot has the reverted canvas')
})

t.test('revert: more pixels than one frame holds reach a watcher whole, in order', async (t) => {
  // SEND_BUFFER_BYTES 16384: frames of at most 1170 records; the revert commits 4096 at once.
  const srv = await listen(t, { DEFAULT_CANVAS_WIDTH: '64', DEFAULT_CANVAS_HEIGHT: '64', SEND_BUFFER_BYTES: '16384' })
  const { c: v } = await join(srv, { sub: 'v', role: 'painter' })
  const { c: watcher } = await join(srv, { sub: 'wat', role: 'viewer' })
  t.teardown(() => { v.close(); watcher.close() })
  const drawn = await drawSynced(v, rect(0, 0, 64, 64, 0, 0, 0))
  await collect(watcher, 4096)
  const res = (await post(srv, '/api/admin/canvases/main/revert', { user: 'v' })).json()
  t.same(res, { reverted: 4096, seq: drawn + 4096 })
  const got = await collect(watcher, 4096)
  t.equal(got.seq, drawn + 4096, 'up to the revert\'s last seq')
  t.ok(got.frames.length > 1, `in ${got.frames.length} frames`)
  t.ok(got.px.every(([, , r, g, b]) => r === 255 && g === 255 && b === 255), 'all white again')
})

t.test('revert: since and region narrow it; the cap answers 409; bad input 400/404', async (t) => {
  const srv = await listen(t, { ...SMALL, REVERT_MAX_CHANGES: '3' })
  const { c: v } = await join(srv, { sub: 'v', role: 'painter' })
  t.teardown(() => v.close())
  await drawSynced(v, pixel(0, 0, 1, 0, 0))
  const since = await drawSynced(v, pixel(1, 0, 1, 0, 0))
  await drawSynced(v, pixel(0, 0, 2, 0, 0)) // after since: back to its own colour at or before since
  await drawSynced(v, pixel(5, 5, 2, 0, 0))

  const tooMany = await post(srv, '/api/admin/canvases/main/revert', { user: 'v' })
  t.equal(tooMany.statusCode, 409, '4 changes after since 0, cap 3')
  t.equal(tooMany.json().error, 'TOO_MANY_CHANGES')
  t.match(tooMany.json().message, /more than 3 changes after seq 0 .*later since/)

  const narrow = await post(srv, '/api/admin/canvases/main/revert', { user: 'v', since, region: { x: 0, y: 0, w: 2, h: 2 } })
  t.equal(narrow.statusCode, 200)
  t.same(narrow.json(), { reverted: 1, seq: since + 3 }, 'only (0,0): after since and inside the region')
  t.equal((await get(srv, '/api/canvases/main/pixels/0/0', {})).json().color, '#010000', 'back to its colour at since')
  t.equal((await get(srv, '/api/canvases/main/pixels/5/5', {})).json().color, '#020000', 'outside the region: untouched')
  t.equal((await get(srv, '/api/canvases/main/pixels/1/0', {})).json().color, '#010000', 'before since: untouched')

  const cases: Array<[unknown, number, string]> = [
    [{}, 400, 'BAD_REQUEST'],
    [{ user: '' }, 400, 'BAD_REQUEST'],
    [{ user: 'v', since: -1 }, 400, 'BAD_REQUEST'],
    [{ user: 'v', region: { x: 0, y: 0, w: 0, h: 1 } }, 400, 'BAD_REQUEST'],
    [{ user: 'v', region: { x: 0, y: 0, w: 1 } }, 400, 'BAD_REQUEST'],
    [{ user: 'v', region: { x: 10, y: 0, w: 7, h: 1 } }, 400, 'OUT_OF_BOUNDS']
  ]
  for (const [body, status, code] of cases) {
    const res = await post(srv, '/api/admin/canvases/main/revert', body)
    t.equal(res.statusCode, status, JSON.stringify(body))
    t.equal(res.json().error, code)
  }
  const missing = await post(srv, '/api/admin/canvases/nope/revert', { user: 'v' })
  t.equal(missing.statusCode, 404)
  t.equal(missing.json().error, 'CANVAS_NOT_FOUND')
  t.same((await post(srv, '/api/admin/canvases/main/revert', { user: 'nobody' })).json(), { reverted: 0, seq: since + 3 }, 'a user with no pixels: nothing')
})

t.test('audit: every admin write once, with who, what and the status; reads not; paged; bounded', async (t) => {
  const srv = await listen(t, { ...SMALL, AUDIT_MAX_ENTRIES: '5', AUDIT_BODY_BYTES: '40' })
  await post(srv, '/api/admin/bans', { user: 'm', seconds: 60, reason: 'x'.repeat(100) })
  await post(srv, '/api/admin/bans', { user: '' }) // a 400 is an action too
  await get(srv, '/api/admin/bans')
  await del(srv, '/api/admin/bans/m')
  await post(srv, '/api/admin/bans', { user: 'm' }, bearer({ role: 'painter' })) // not an admin: not recorded
  await post(srv, '/api/admin/canvases/main/fill', { x: 0, y: 0, w: 1, h: 1, color: '#000000' }) // a route with no audit code of its own

  const res = await get(srv, '/api/admin/audit')
  t.equal(res.statusCode, 200)
  const { entries, next } = res.json()
  t.equal(next, null)
  t.same(entries.map((e: { method: string, route: string, status: number }) => [e.method, e.route, e.status]), [
    ['POST', '/api/admin/canvases/:id/fill', 202],
    ['DELETE', '/api/admin/bans/:user', 204],
    ['POST', '/api/admin/bans', 400],
    ['POST', '/api/admin/bans', 201]
  ], 'newest first, writes only')
  const [fill, lift, , ban] = entries
  t.match(fill, { admin: 'root', url: '/api/admin/canvases/main/fill', params: { id: 'main' } })
  t.match(lift, { params: { user: 'm' }, body: null })
  t.ok(Buffer.byteLength(ban.body) <= 40, 'the body summary is bounded')
  t.match(ban.body, /^\{"user":"m","seconds":60,"reason":"x+…$/)
  t.ok(entries.every((e: { at: string, id: number }) => !Number.isNaN(Date.parse(e.at)) && e.id > 0))

  const page1 = (await get(srv, '/api/admin/audit?limit=2')).json()
  t.equal(page1.entries.length, 2)
  const page2 = (await get(srv, `/api/admin/audit?limit=2&before=${page1.next}`)).json()
  t.same([...page1.entries, ...page2.entries].map((e: { id: number }) => e.id), entries.map((e: { id: number }) => e.id), 'pages follow one another')

  for (let i = 0; i < 4; i++) await post(srv, '/api/admin/canvases/main/fill', { x: 0, y: 0, w: 1, h: 1, color: '#000000' })
  t.equal((await get(srv, '/api/admin/audit?limit=500')).json().entries.length, 5, 'AUDIT_MAX_ENTRIES kept')
  for (const q of ['limit=0', 'limit=501', 'before=0', 'limit=x']) t.equal((await get(srv, `/api/admin/audit?${q}`)).statusCode, 400, q)
  t.equal((await get(srv, '/api/admin/audit', bearer({ role: 'painter' }))).statusCode, 403)
})
