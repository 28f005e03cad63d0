// Issue 10, point 8, over real sockets: a server configured with an issuer,
// an audience, a previous secret, a PEM public key and a JWKS answers the
// handshake 101 or 401 by those settings alone: identity-provider tokens
// (RS256, ES256, EdDSA) open /ws, a wrong iss or aud, an unknown kid, an
// algorithm the configuration does not pin, and the HS256-with-public-key
// confusion are 401. Keys are generated here with node:crypto.
import { createHmac, generateKeyPairSync, type KeyObject } from 'node:crypto'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { createSigner } from 'fast-jwt'
import t from 'tap'
import { SECRET, handshake, isHello, listen, tempDir, TestClient } from '../../helper.js'
import { run, within } from '../../process.js'

const PREVIOUS = 'previous-secret-previous-secret-previous'
const ISS = 'https://idp.test'
const AUD = 'pixelwire'
const b64 = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url')

const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 })
const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' })
const ed = generateKeyPairSync('ed25519')
const pem = (k: KeyObject) => k.export({ type: k.type === 'private' ? 'pkcs8' : 'spki', format: 'pem' }).toString()

type Alg = 'HS256' | 'RS256' | 'PS256' | 'ES256' | 'EdDSA'
function sign (key: KeyObject | string, algorithm: Alg, claims: object = {}, kid?: string): string {
  const s = createSigner({ key: typeof key === 'string' ? key : pem(key), algorithm, expiresIn: 600_000, ...(kid === undefined ? {} : { kid }) })
  return s({ sub: 'idp-user', role: 'painter', iss: ISS, aud: AUD, ...claims })
}

function keyFiles (t: Parameters<typeof tempDir>[0]): { pemFile: string, jwksFile: string } {
  const dir = tempDir(t)
  const pemFile = join(dir, 'idp.pem')
  writeFileSync(pemFile, pem(rsa.publicKey))
  const jwksFile = join(dir, 'jwks.json')
  writeFileSync(jwksFile, JSON.stringify({
    keys: [
      { ...ec.publicKey.export({ format: 'jwk' }), kid: 'ec-1', use: 'sig' },
      { ...ed.publicKey.export({ format: 'jwk' }), kid: 'ed-1', alg: 'EdDSA' }
    ]
  }))
  return { pemFile, jwksFile }
}

function env (t: Parameters<typeof tempDir>[0], over: Record<string, string> = {}): Record<string, string> {
  const { pemFile, jwksFile } = keyFiles(t)
  return {
    JWT_ISSUER: ISS,
    JWT_AUDIENCE: AUD,
    JWT_PREVIOUS_SECRET: PREVIOUS,
    JWT_PREVIOUS_UNTIL: new Date(Date.now() + 3600_000).toISOString(),
    JWT_PUBLIC_KEY_FILE: pemFile,
    JWT_JWKS_FILE: jwksFile,
    JWT_ALGORITHMS: 'RS256,ES256,EdDSA',
    HANDSHAKE_RATE: '1000',
    ...over
  }
}

const bearer = (tok: string) => ({ headers: { authorization: `Bearer ${tok}` } })

t.test('the configured keys, issuer and audience decide; the token header never does', async (t) => {
  const srv = await listen(t, env(t))
  const accepted: Array<[string, string]> = [
    ['HS256, current secret', sign(SECRET, 'HS256')],
    ['HS256, previous secret within its window', sign(PREVIOUS, 'HS256')],
    ['RS256 from the PEM file', sign(rsa.privateKey, 'RS256')],
    ['ES256 from the JWKS', sign(ec.privateKey, 'ES256', {}, 'ec-1')],
    ['EdDSA from the JWKS', sign(ed.privateKey, 'EdDSA', {}, 'ed-1')],
    ['aud as a list holding ours', sign(rsa.privateKey, 'RS256', { aud: ['other', AUD] })]
  ]
  for (const [what, tok] of accepted) {
    const c = new TestClient(srv.wsUrl, { token: tok })
    await c.opened
    t.match((await c.next(isHello)).json.user, { id: 'idp-user', role: 'painter' }, `${what}: 101 and hello`)
    c.close()
  }

  const confused = (key: string, kid?: string) => {
    const head = b64({ alg: 'HS256', typ: 'JWT', ...(kid === undefined ? {} : { kid }) }) + '.' +
      b64({ sub: 'mallory', role: 'admin', iss: ISS, aud: AUD, exp: Math.floor(Date.now() / 1000) + 600 })
    return head + '.' + createHmac('sha256', key).update(head).digest('base64url')
  }
  const refused: Array<[string, string]> = [
    ['wrong iss', sign(SECRET, 'HS256', { iss: 'https://evil.test' })],
    ['wrong aud', sign(rsa.privateKey, 'RS256', { aud: 'someone-else' })],
    ['no iss', sign(SECRET, 'HS256', { iss: undefined })],
    ['no aud', sign(ec.privateKey, 'ES256', { aud: undefined }, 'ec-1')],
    ['unknown kid', sign(ec.privateKey, 'ES256', {}, 'ec-2')],
    ['kid of another key', sign(ec.privateKey, 'ES256', {}, 'ed-1')],
    ['PS256: the RSA key could, JWT_ALGORITHMS does not allow it', sign(rsa.privateKey, 'PS256')],
    ['alg confusion: HS256 keyed with the PEM public key', confused(pem(rsa.publicKey))],
    ['alg confusion: HS256 keyed with a JWKS key, naming its kid', confused(pem(ec.publicKey), 'ec-1')],
    ['alg none', b64({ alg: 'none' }) + '.' + b64({ sub: 'mallory', iss: ISS, aud: AUD, exp: Math.floor(Date.now() / 1000) + 600 }) + '.']
  ]
  for (const [what, tok] of refused) {
    const r = await handshake(srv.wsUrl, bearer(tok))
    t.equal(r.status, 401, what)
    t.match(JSON.parse(r.body), { error: 'INVALID_TOKEN', message: String }, what)
  }
  const admin = await srv.app.inject({ url: '/api/admin/streams', headers: { authorization: `Bearer ${confused(pem(rsa.publicKey))}` } })
  t.equal(admin.statusCode, 401, 'the admin API refuses the confused token too')

  // The server's own tokens carry the configured iss and aud, so they pass its checks.
  const guest = await srv.app.inject({ method: 'POST', url: '/api/auth/guest', payload: { name: 'Pat' } })
  const claims = JSON.parse(Buffer.from(guest.json().token.split('.')[1], 'base64url').toString())
  t.match(claims, { iss: ISS, aud: AUD, role: 'painter' })
  t.equal((await handshake(srv.wsUrl, bearer(guest.json().token))).status, 101, 'a guest token opens /ws')
})

t.test('the previous secret is refused once JWT_PREVIOUS_UNTIL has passed', async (t) => {
  const srv = await listen(t, env(t, { JWT_PREVIOUS_UNTIL: new Date(Date.now() - 1000).toISOString() }))
  t.equal((await handshake(srv.wsUrl, bearer(sign(PREVIOUS, 'HS256')))).status, 401, 'previous secret: 401')
  t.equal((await handshake(srv.wsUrl, bearer(sign(SECRET, 'HS256')))).status, 101, 'current secret: 101')
})

t.test('npm run token signs what the server accepts, with iss and aud when configured', async (t) => {
  const e = env(t)
  const dataDir = tempDir(t)
  const srv = await listen(t, { ...e, DATA_DIR: dataDir })
  const tok = run(t, ['src/cli/token.ts', '--sub', 'ops', '--role', 'admin'], { ...e, DATA_DIR: dataDir, JWT_SECRET: SECRET })
  t.same(await within(tok.exited, 15000, 'token script'), { code: 0, signal: null })
  const jwt = tok.out().trim()
  t.match(JSON.parse(Buffer.from(jwt.split('.')[1], 'base64url').toString()), { sub: 'ops', iss: ISS, aud: AUD })
  t.equal((await srv.app.inject({ url: '/api/admin/streams', headers: { authorization: `Bearer ${jwt}` } })).statusCode, 200)
})
