import fp from 'fastify-plugin'
import swagger from '@fastify/swagger'
import swaggerUi from '@fastify/swagger-ui'

/**
 * OpenAPI 3 description of the HTTP API, built from the route schemas, as
 * JSON at /docs/json and browsable at /docs. Registered before routes/ so it
 * sees every route; /ws is left out (an upgrade, not a REST call; see the
 * contract's §1 instead).
 */
export default fp(async function swaggerDocs (fastify) {
  await fastify.register(swagger, {
    openapi: {
      openapi: '3.0.3',
      info: { title: 'pixelwire', description: 'Real-time pixel canvas and JSON streams: the HTTP API (contract §7).', version: '1' },
      components: {
        securitySchemes: { bearer: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' } }
      }
    },
    transform: function hideWebSocket ({ schema, url }) {
      return { schema: url === '/ws' ? { ...schema, hide: true } : schema, url }
    }
  })
  await fastify.register(swaggerUi, { routePrefix: '/docs', staticCSP: true })
}, { name: 'swagger', dependencies: ['rate-limit'] })
