// The composition root: a plugin that autoloads plugins/ then routes/.
import type { Server } from 'node:http'
import type { Socket } from 'node:net'
import { join } from 'node:path'
import type { FastifyHttpOptions, FastifyInstance } from 'fastify'
import autoload from '@fastify/autoload'
import fp from 'fastify-plugin'
import type { Config } from './config.js'
import { ROOT } from './paths.js'
import { clientErrorResponse } from './http-error.js'
import { parseQuery, redactUrl } from './log-url.js'

export interface AppOptions { config: Config }

/** Fastify's own options: logging (no token ever), limits, trust. */
export function serverOptions (config: Config): FastifyHttpOptions<Server> {
  return {
    logger: {
      level: config.LOG_LEVEL,
      redact: { paths: ['req.headers.authorization', 'req.headers["sec-websocket-protocol"]', 'token'], censor: '[redacted]' },
      serializers: {
        // A token may ride in the query (?token=): the URL is rebuilt from the parsed query (src/log-url.ts).
        req (req: { method: string, url: string, ip?: string, socket?: { remoteAddress?: string } }) {
          return { method: req.method, url: redactUrl(req.url), remoteAddress: req.ip ?? req.socket?.remoteAddress }
        }
      }
    },
    // Upgrade requests are plain HTTP until the handshake passes: keep them small.
    bodyLimit: 1024 * 1024,
    // The query parser is named here so that the log redaction above parses exactly as routes do.
    routerOptions: { ignoreTrailingSlash: true, maxParamLength: 200, querystringParser: parseQuery },
    forceCloseConnections: true,
    // While the drain runs (plugins/websocket.ts) requests are still routed:
    // liveness stays 200, readiness names `draining`, an upgrade gets the
    // contract's 503 and its socket is released.
    return503OnClosing: false,
    // Cluster mode: boot waits for Redis (REDIS_BOOT_TIMEOUT_MS) inside the
    // plugins; Fastify's own plugin deadline (10 s) must not cut it shorter.
    ...(config.redisUrl !== null ? { pluginTimeout: config.REDIS_BOOT_TIMEOUT_MS + 10000 } : {}),
    ...operationOptions(config)
  }
}

/**
 * Whose address a per-IP limit counts (TRUST_PROXY), and how long a socket
 * may take to send its request or sit idle (slowloris, silent sockets).
 * Node checks the headers and request deadlines on a timer
 * (connectionsCheckingInterval, 30 s by default): run it often enough that
 * the cut comes close to the deadline.
 */
function operationOptions (config: Config): FastifyHttpOptions<Server> {
  return {
    trustProxy: config.trustProxy.length > 0 ? config.trustProxy : false,
    connectionTimeout: config.HTTP_IDLE_TIMEOUT_MS,
    keepAliveTimeout: config.HTTP_KEEPALIVE_TIMEOUT_MS,
    requestTimeout: config.HTTP_REQUEST_TIMEOUT_MS,
    http: {
      headersTimeout: config.HTTP_HEADERS_TIMEOUT_MS,
      requestTimeout: config.HTTP_REQUEST_TIMEOUT_MS,
      connectionsCheckingInterval: Math.min(1000, config.HTTP_HEADERS_TIMEOUT_MS)
    },
    clientErrorHandler: onClientError
  }
}

/** A request Node's parser refused or timed out: one JSON answer, then close. */
function onClientError (err: NodeJS.ErrnoException, socket: Socket): void {
  if (err.code === 'ECONNRESET' || socket.destroyed) return
  if (socket.writable) socket.write(clientErrorResponse(err.code))
  socket.destroy(err)
}

async function app (fastify: FastifyInstance, opts: AppOptions): Promise<void> {
  // When the code runs compiled, the plugins live under dist/ beside it.
  const base = import.meta.url.endsWith('.ts') ? ROOT : join(ROOT, 'dist')
  await fastify.register(autoload, { dir: join(base, 'plugins'), options: opts, forceESM: true })
  await fastify.register(autoload, { dir: join(base, 'routes'), options: opts, forceESM: true, autoHooks: true, cascadeHooks: true })
}

// Not encapsulated: the decorators (config, canvases, connections...) are
// visible on the instance that registers the app, e.g. in tests.
export default fp(app, { name: 'app' })
