// A peer that stops answering pings is ended within two heartbeat intervals
// and dropped from the registry and the hub exactly once.
import t from 'tap'
import WebSocket from 'ws'
import { listen, token, TestClient, isHello, until } from '../../helper.js'

t.test('a peer that never pongs is terminated; one that does stays', async (t) => {
  const srv = await listen(t, { HEARTBEAT_MS: '100' })
  const deaf = new WebSocket(srv.wsUrl, { headers: { authorization: `Bearer ${token({ sub: 'deaf' })}` }, autoPong: false })
  deaf.on('error', () => {})
  const alive = new TestClient(srv.wsUrl, { token: token({ sub: 'alive' }) })
  await Promise.all([new Promise((resolve) => deaf.once('open', resolve)), alive.opened])
  await alive.next(isHello)
  t.equal(srv.app.connections.registry.size, 2)
  const opened = Date.now()
  const [code] = await new Promise<[number]>((resolve) => deaf.once('close', (c) => resolve([c])))
  const after = Date.now() - opened
  t.ok(code === 4012 || code === 1006, `closed with 4012 or dropped (got ${code})`)
  t.ok(after <= 450, `gone within two intervals plus slack (${after} ms)`)
  await until(() => srv.app.connections.registry.size === 1, 10000, 'registry dropped it')
  t.equal(srv.app.connections.registry.size, 1, 'registry dropped it')
  t.equal(srv.app.hub.count('canvas:main'), 1, 'hub dropped it')
  await new Promise((resolve) => setTimeout(resolve, 300))
  t.equal(alive.ws.readyState, WebSocket.OPEN, 'a client that answers pings stays')
  alive.close()
})
