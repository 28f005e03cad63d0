// npm run token -- --sub alice [--role admin] [--name Alice] [--ttl 1h]
// Prints a JWT that a server with the same JWT_SECRET / DATA_DIR (and JWT_ISSUER,
// JWT_AUDIENCE) accepts: HS256 with the current secret.
import { parseArgs } from 'node:util'
import { loadConfig } from '../config.js'
import { DEFAULT_ROLE, isRole } from '../protocol/wire.js'
import { createTokenSigner } from '../auth/tokens.js'

const UNITS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86400 }

function parseTtl (ttl: string): number {
  const m = /^(\d+)([smhd]?)$/.exec(ttl)
  if (m === null) throw new Error(`--ttl must look like 3600, 30m, 1h or 7d, got ${ttl}`)
  return Number(m[1]) * UNITS[m[2] === '' ? 's' : m[2]]
}

try {
  const { values } = parseArgs({
    options: {
      sub: { type: 'string' },
      role: { type: 'string', default: DEFAULT_ROLE },
      name: { type: 'string' },
      ttl: { type: 'string', default: '1h' }
    }
  })
  if (values.sub === undefined) throw new Error('--sub is required')
  if (!isRole(values.role)) throw new Error('--role must be viewer, painter or admin')
  const config = loadConfig()
  const sign = createTokenSigner({ secret: config.JWT_SECRET, issuer: config.jwtIssuers[0], audience: config.jwtAudiences[0], expiresInSec: parseTtl(values.ttl) })
  const claims: Record<string, string> = { sub: values.sub, role: values.role }
  if (values.name !== undefined) claims.name = values.name
  console.log(sign(claims))
} catch (err) {
  console.error(`token: ${(err as Error).message}`)
  process.exit(1)
}
