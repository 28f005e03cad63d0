import fp from 'fastify-plugin'
import { loadConfig, type Config } from '../src/config.js'

declare module 'fastify' {
  interface FastifyInstance { config: Config }
}

export interface ConfigPluginOptions { config?: Config }

/** The validated configuration as `fastify.config` (tests pass their own). */
export default fp<ConfigPluginOptions>(async function config (fastify, opts) {
  const cfg = opts.config ?? loadConfig()
  fastify.decorate('config', cfg)
  if (cfg.secretGenerated) {
    fastify.log.warn(`JWT_SECRET is not set: using the development secret stored in ${cfg.DATA_DIR}/jwt-secret. Set JWT_SECRET in production.`)
  }
}, { name: 'config' })
