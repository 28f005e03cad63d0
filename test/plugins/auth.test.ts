// The auth plugin verifies and signs through @fastify/jwt: one namespace per
// configured key, registered with that key's pinned algorithms and the claim
// checks; verifyToken asks only the namespaces the token's kid and alg select;
// only JWT_SECRET's namespace can sign.
import { generateKeyPairSync, type KeyObject } from 'node:crypto'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { createSigner } from 'fast-jwt'
import t from 'tap'
import { HttpError } from '../../src/http-error.js'
import { SECRET, build, tempDir } from '../helper.js'

const PREVIOUS = 'previous-secret-previous-secret-previous'
const ISS = 'https://idp.test'
const AUD = 'pixelwire'
const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 })
const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' })
const pem = (k: KeyObject) => k.export({ type: k.type === 'private' ? 'pkcs8' : 'spki', format: 'pem' }).toString()

async function server (t: Parameters<typeof tempDir>[0]) {
  const dir = tempDir(t)
  writeFileSync(join(dir, 'idp.pem'), pem(rsa.publicKey))
  writeFileSync(join(dir, 'jwks.json'), JSON.stringify({ keys: [{ ...ec.publicKey.export({ format: 'jwk' }), kid: 'ec-1' }] }))
  return (await build(t, {
    JWT_ISSUER: ISS,
    JWT_AUDIENCE: AUD,
    JWT_PREVIOUS_SECRET: PREVIOUS,
    JWT_PREVIOUS_UNTIL: new Date(Date.now() + 3600_000).toISOString(),
    JWT_PUBLIC_KEY_FILE: join(dir, 'idp.pem'),
    JWT_JWKS_FILE: join(dir, 'jwks.json'),
    JWT_ALGORITHMS: 'RS256,PS256,ES256'
  })).app
}

t.test('each key is a @fastify/jwt namespace pinned to its algorithms, with the claim checks', async (t) => {
  const app = await server(t)
  const checks = { requiredClaims: ['exp', 'sub', 'iss', 'aud'], allowedIss: [ISS], allowedAud: [AUD] }
  t.same(Object.fromEntries(Object.entries(app.jwt).map(([ns, jwt]) => [ns, jwt.options.verify])), {
    secret: { algorithms: ['HS256'], ...checks },
    previousSecret: { algorithms: ['HS256'], ...checks },
    publicKey: { algorithms: ['RS256', 'PS256'], ...checks },
    jwks3: { algorithms: ['ES256'], ...checks }
  })
  for (const ns of ['previousSecret', 'publicKey', 'jwks3']) {
    t.throws(() => app.jwt[ns].sign({ sub: 'x' }), /unable to sign/, `${ns} cannot sign`)
  }
  const tok = app.signToken({ sub: 'bob', exp: Math.floor(Date.now() / 1000) + 60 })
  t.equal(JSON.parse(Buffer.from(tok.split('.')[0], 'base64url').toString()).alg, 'HS256')
  t.match(app.jwt.secret.verify(tok), { sub: 'bob', iss: ISS, aud: AUD }, 'signed by the secret namespace, with iss and aud')
})

t.test('verifyToken asks the namespaces the kid and alg select, synchronously', async (t) => {
  const app = await server(t)
  const calls: string[] = []
  for (const [ns, jwt] of Object.entries(app.jwt)) {
    const verify = jwt.verify.bind(jwt)
    jwt.verify = ((token: string) => { calls.push(ns); return verify(token) }) as typeof jwt.verify
  }
  const claims = { sub: 'idp-user', iss: ISS, aud: AUD }
  const asked = (tok: string) => {
    calls.length = 0
    let code = 'ok'
    try {
      app.verifyToken(tok)
    } catch (err) {
      code = err instanceof HttpError ? `${err.statusCode} ${err.error}` : String(err)
    }
    return [code, [...calls]]
  }
  const signer = (key: string, algorithm: 'HS256' | 'RS256' | 'ES256', kid?: string, exp = Math.floor(Date.now() / 1000) + 60) =>
    createSigner({ key, algorithm, ...(kid === undefined ? {} : { kid }) })({ ...claims, exp })
  t.same(asked(signer(SECRET, 'HS256')), ['ok', ['secret']], 'HS256: the current secret first')
  t.same(asked(signer(PREVIOUS, 'HS256')), ['ok', ['secret', 'previousSecret']], 'then the previous one')
  t.same(asked(signer(pem(rsa.privateKey), 'RS256')), ['ok', ['publicKey']], 'RS256 without kid: the PEM key alone')
  t.same(asked(signer(pem(ec.privateKey), 'ES256', 'ec-1')), ['ok', ['jwks3']], 'a kid: that JWKS key alone')
  t.same(asked(signer(pem(ec.privateKey), 'ES256')), ['401 INVALID_TOKEN', []], 'ES256 without kid: no namespace can, none is asked')
  t.same(asked(signer(pem(ec.privateKey), 'ES256', 'ec-2')), ['401 INVALID_TOKEN', []], 'an unknown kid: none is asked')
  t.same(asked(signer(SECRET, 'HS256', undefined, Math.floor(Date.now() / 1000) - 60)), ['401 TOKEN_EXPIRED', ['secret']], 'expired, told by the namespace that signed it')
  t.same(asked('not.a.token'), ['401 INVALID_TOKEN', []], 'garbage: refused before any namespace')
})
