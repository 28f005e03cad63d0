// Builds Fastify, wires graceful shutdown and listens. Nothing else; with
// WORKERS above 1, the primary process only forks and watches the workers
// (src/workers.ts) and each worker is one cluster node.
import Fastify from 'fastify'
import closeWithGrace from 'close-with-grace'
import { loadConfig, type Config } from './config.js'
import app, { serverOptions } from './app.js'
import { runPrimary, workerConfig } from './workers.js'

let config: Config
try {
  config = loadConfig()
} catch (err) {
  console.error((err as Error).message)
  process.exit(1)
}

if (config.WORKERS > 1 && runPrimary(config)) {
  // the primary serves nothing itself: its workers share PORT (Node's cluster module)
} else {
  config = workerConfig(config)
  const server = Fastify(serverOptions(config))
  try {
    await server.register(app, { config })
  } catch (err) {
    // e.g. DATA_DIR held by another server: say so, touch nothing, exit 1.
    server.log.error({ err }, `could not start: ${(err as Error).message}`)
    process.exit(1)
  }

  closeWithGrace({ delay: config.SHUTDOWN_TIMEOUT_MS }, async function onSignal ({ signal, err }) {
    if (err !== undefined) server.log.error({ err }, 'shutting down after an error')
    else server.log.info({ signal }, 'shutting down')
    await server.close()
  })

  try {
    await server.listen({ port: config.PORT, host: config.HOST })
  } catch (err) {
    server.log.error({ err }, 'could not listen')
    process.exit(1)
  }
}
