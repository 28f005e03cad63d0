import type { FastifyPluginAsync } from 'fastify'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import { SETTING_NAMES, SettingsPatchSchema, SettingsSchema } from '../../../../src/settings/settings.js'
import { HttpError } from '../../../../src/http-error.js'

const KNOWN = new Set<string>(SETTING_NAMES)

const common = { tags: ['admin'], security: [{ bearer: [] }] }

/** Live settings (contract §10): effective at once, kept across restarts. */
const adminSettingsRoutes: FastifyPluginAsync = async function adminSettingsRoutes (instance) {
  const fastify = instance.withTypeProvider<TypeBoxTypeProvider>()

  fastify.get('/', {
    schema: { ...common, summary: 'The live settings in force (stored values over the environment\'s)', response: { 200: SettingsSchema } }
  }, function getSettings () {
    return fastify.settings.current
  })

  fastify.patch('/', {
    schema: {
      ...common,
      summary: 'Change live settings: effective at once, kept across restarts; null goes back to the environment\'s value',
      body: SettingsPatchSchema,
      response: { 200: SettingsSchema }
    },
    config: { rateLimit: fastify.restLimits.write },
    // Validation drops unknown properties (removeAdditional): a misspelt
    // setting must be refused, not silently ignored.
    preValidation: async function knownSettings (request) {
      const body = request.body
      if (body === null || typeof body !== 'object') return
      const unknown = Object.keys(body).filter((k) => !KNOWN.has(k))
      if (unknown.length > 0) throw new HttpError(400, 'BAD_REQUEST', `unknown settings: ${unknown.join(', ')}; known: ${SETTING_NAMES.join(', ')}`)
    }
  }, async function patchSettings (request) {
    const next = await fastify.settings.update(request.body)
    request.log.info({ changed: request.body, by: request.admin?.id }, 'admin changed settings')
    return next
  })
}

export default adminSettingsRoutes
