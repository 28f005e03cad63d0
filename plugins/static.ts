import fp from 'fastify-plugin'
import fastifyStatic from '@fastify/static'
import { PUBLIC_DIR } from '../src/paths.js'

// The page talks only to its own origin: its script, its style, /api and /ws.
const CSP = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; " +
  "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"

/**
 * The browser drawing client (contract §7, `GET /`): public/ at the root,
 * index.html for `/`. Every file is revalidated (no-cache with ETag and
 * Last-Modified), so a rebuilt bundle is picked up on the next load. Routes
 * registered elsewhere (/api, /ws, /docs, /health, /metrics) take precedence
 * over the catch-all; a missing file is the usual JSON 404. After
 * rate-limit, so the files count against API_RATE_LIMIT like any route.
 */
export default fp(async function staticFiles (fastify) {
  await fastify.register(fastifyStatic, {
    root: PUBLIC_DIR,
    prefix: '/',
    index: ['index.html'],
    cacheControl: false,
    dotfiles: 'deny',
    setHeaders (res, path) {
      res.setHeader('cache-control', 'no-cache')
      res.setHeader('x-content-type-options', 'nosniff')
      if (path.endsWith('.html')) res.setHeader('content-security-policy', CSP)
    }
  })
}, { name: 'static', dependencies: ['rate-limit', 'swagger'] })
