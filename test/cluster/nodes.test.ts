// The cluster tests' node helper itself: node processes of the compiled
// server (not tsx), each on its own port and DATA_DIR, stopped gracefully
// or killed, and started again on the same DATA_DIR and port.
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { startNodes } from './redis.js'

// Real processes (and, for the first cluster test file, compiling the
// server) on a loaded machine: more than the 120 s per file of package.json.
t.setTimeout(360000)

t.test('two nodes of the built server, each with its own DATA_DIR', async (t) => {
  const { nodes, restart } = await startNodes(t, 2)
  t.not(nodes[0].port, nodes[1].port)
  t.not(nodes[0].dataDir, nodes[1].dataDir)
  for (const n of nodes) {
    const res = await fetch(`${n.url}/health`)
    t.equal(res.status, 200, `${n.id} answers`)
    t.ok(existsSync(join(n.dataDir, 'pixelwire.db')), `${n.id} has its own database`)
    t.match(n.out(), /"msg":"Server listening at http:\/\/127\.0\.0\.1:\d+"/, `${n.id} logs pino JSON`)
  }
  const firstPort = nodes[0].port
  await nodes[0].kill9()
  t.equal(nodes[0].child.signalCode, 'SIGKILL')
  const again = await restart(0)
  t.equal(again.port, firstPort, 'on its old port')
  t.equal((await fetch(`${again.url}/health`)).status, 200, 'restarted on the same DATA_DIR (its lock released by the kill)')
  t.same(await nodes[1].stop(), { code: 0, signal: null }, 'SIGTERM: a graceful exit')
})
