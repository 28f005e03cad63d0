// JWT keys and verification without a server: every key pinned to its
// algorithms by configuration, never by the token's header; issuer,
// audience, the previous secret's window on a moved clock, kid selection,
// and the configuration errors that stop boot.
import { createHmac, generateKeyPairSync, type KeyObject } from 'node:crypto'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { createSigner } from 'fast-jwt'
import t, { type Test } from 'tap'
import { loadVerificationKeys, type KeyConfig } from '../../../src/auth/keys.js'
import { TokenRefused, createTokenSigner, createTokenVerifier } from '../../../src/auth/tokens.js'
import { loadConfig } from '../../../src/config.js'
import { tempDir } from '../../helper.js'

const SECRET = 'current-secret-current-secret-current'
const PREVIOUS = 'previous-secret-previous-secret-previous'
const now = () => Math.floor(Date.now() / 1000)
const b64 = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url')

const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 })
const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' })
const ed = generateKeyPairSync('ed25519')
const pem = (k: KeyObject) => k.export({ type: k.type === 'private' ? 'pkcs8' : 'spki', format: 'pem' }).toString()

function sign (key: KeyObject | string, algorithm: 'HS256' | 'RS256' | 'PS256' | 'ES256' | 'EdDSA', claims: object = {}, kid?: string): string {
  const s = createSigner({ key: typeof key === 'string' ? key : pem(key), algorithm, expiresIn: 600_000, ...(kid === undefined ? {} : { kid }) })
  return s({ sub: 'alice', ...claims })
}

/** HS256 over `header.claims` with any bytes as the HMAC key (what an alg-confusion attacker does). */
function hmacJwt (header: object, claims: object, key: string): string {
  const head = b64(header) + '.' + b64(claims)
  return head + '.' + createHmac('sha256', key).update(head).digest('base64url')
}

function keyConfig (t: Test, over: Partial<KeyConfig> = {}): KeyConfig {
  const dir = tempDir(t)
  const pemFile = join(dir, 'idp.pem')
  writeFileSync(pemFile, pem(rsa.publicKey))
  const jwksFile = join(dir, 'jwks.json')
  const jwk = (k: KeyObject, kid: string, extra: object = {}) => ({ ...k.export({ format: 'jwk' }), kid, ...extra })
  writeFileSync(jwksFile, JSON.stringify({ keys: [jwk(ec.publicKey, 'ec1'), jwk(ed.publicKey, 'ed1', { alg: 'EdDSA', use: 'sig' }), jwk(rsa.publicKey, 'rsa1', { alg: 'RS256' })] }))
  return {
    JWT_SECRET: SECRET,
    JWT_PREVIOUS_SECRET: PREVIOUS,
    jwtPreviousUntil: Date.now() + 3600_000,
    JWT_PUBLIC_KEY_FILE: pemFile,
    JWT_JWKS_FILE: jwksFile,
    jwtAlgorithms: ['RS256', 'ES256', 'EdDSA'],
    ...over
  }
}

function refusal (t: Test, verify: (tok: string) => unknown, tok: string, what: string, code = 'INVALID_TOKEN'): void {
  try {
    verify(tok)
    t.fail(`${what}: accepted`)
  } catch (err) {
    t.equal(err instanceof TokenRefused && err.code, code, what)
  }
}

t.test('each key verifies only its own algorithms', async (t) => {
  const { keys } = loadVerificationKeys(keyConfig(t))
  t.same(keys.map((k) => [k.source, k.kid, k.algorithms]), [
    ['JWT_SECRET', undefined, ['HS256']],
    ['JWT_PREVIOUS_SECRET', undefined, ['HS256']],
    ['JWT_PUBLIC_KEY_FILE', undefined, ['RS256']],
    ['jwks:ec1', 'ec1', ['ES256']],
    ['jwks:ed1', 'ed1', ['EdDSA']],
    ['jwks:rsa1', 'rsa1', ['RS256']]
  ])
  const verify = createTokenVerifier({ keys })
  t.match(verify(sign(SECRET, 'HS256')), { sub: 'alice' }, 'HS256 with JWT_SECRET')
  t.match(verify(sign(PREVIOUS, 'HS256')), { sub: 'alice' }, 'HS256 with the previous secret, in its window')
  t.match(verify(sign(rsa.privateKey, 'RS256')), { sub: 'alice' }, 'RS256 from the PEM file')
  t.match(verify(sign(ec.privateKey, 'ES256', {}, 'ec1')), { sub: 'alice' }, 'ES256 from the JWKS')
  t.match(verify(sign(ed.privateKey, 'EdDSA', {}, 'ed1')), { sub: 'alice' }, 'EdDSA from the JWKS')
  t.match(verify(sign(rsa.privateKey, 'RS256', {}, 'rsa1')), { sub: 'alice' }, 'RS256 from the JWKS')

  refusal(t, verify, sign(rsa.privateKey, 'PS256'), 'PS256: the key could, the configuration does not allow it')
  refusal(t, verify, sign(ec.privateKey, 'ES256'), 'ES256 without a kid: only the JWKS has EC keys')
  refusal(t, verify, sign(ec.privateKey, 'ES256', {}, 'ed1'), 'a kid naming another key')
  refusal(t, verify, sign(ec.privateKey, 'ES256', {}, 'nope'), 'an unknown kid')
  refusal(t, verify, sign('another-secret-another-secret-another', 'HS256'), 'HS256 with an unknown secret')
  refusal(t, verify, 'not.a.token', 'garbage')
})

t.test('algorithm confusion: HS256 keyed with a public key is refused', async (t) => {
  const cfg = keyConfig(t)
  const verify = createTokenVerifier(loadVerificationKeys(cfg))
  const claims = { sub: 'mallory', role: 'admin', exp: now() + 600 }
  const pems = [pem(rsa.publicKey), pem(ec.publicKey), pem(ed.publicKey), pem(rsa.publicKey).trim()]
  for (const [i, key] of pems.entries()) {
    refusal(t, verify, hmacJwt({ alg: 'HS256', typ: 'JWT' }, claims, key), `public key #${i} as HMAC secret`)
    refusal(t, verify, hmacJwt({ alg: 'HS256', typ: 'JWT', kid: 'ec1' }, claims, key), `public key #${i} as HMAC secret, with a JWKS kid`)
  }
  refusal(t, verify, hmacJwt({ alg: 'HS256', kid: 'rsa1' }, claims, SECRET), 'the real secret, but a kid that names an RSA key')
  refusal(t, verify, b64({ alg: 'none' }) + '.' + b64(claims) + '.', 'alg none')
})

t.test('issuer and audience, when configured, are required and checked', async (t) => {
  const keys = [{ source: 'JWT_SECRET', key: SECRET, algorithms: ['HS256' as const] }]
  const verify = createTokenVerifier({ keys, issuers: ['https://idp.test', 'pixelwire'], audiences: ['pixelwire'] })
  t.match(verify(sign(SECRET, 'HS256', { iss: 'https://idp.test', aud: 'pixelwire' })), { sub: 'alice' })
  t.match(verify(sign(SECRET, 'HS256', { iss: 'pixelwire', aud: ['other', 'pixelwire'] })), { sub: 'alice' }, 'one of several audiences')
  refusal(t, verify, sign(SECRET, 'HS256', { iss: 'https://evil.test', aud: 'pixelwire' }), 'wrong iss')
  refusal(t, verify, sign(SECRET, 'HS256', { iss: 'https://idp.test.evil', aud: 'pixelwire' }), 'iss is matched exactly, not as a pattern')
  refusal(t, verify, sign(SECRET, 'HS256', { iss: 'https://idp.test', aud: 'other' }), 'wrong aud')
  refusal(t, verify, sign(SECRET, 'HS256', { aud: 'pixelwire' }), 'no iss')
  refusal(t, verify, sign(SECRET, 'HS256', { iss: 'pixelwire' }), 'no aud')
  const plain = createTokenVerifier({ keys })
  t.match(plain(sign(SECRET, 'HS256', { iss: 'anyone', aud: 'anything' })), { sub: 'alice' }, 'unchecked when not configured')
})

t.test('the previous secret is accepted until its time, and refused after', async (t) => {
  let clock = Date.now()
  const until = clock + 60_000
  const verify = createTokenVerifier({ ...loadVerificationKeys(keyConfig(t, { jwtPreviousUntil: until })), now: () => clock })
  const old = sign(PREVIOUS, 'HS256')
  t.match(verify(old), { sub: 'alice' }, 'in the window')
  clock = until - 1
  t.match(verify(old), { sub: 'alice' }, 'its last millisecond')
  clock = until
  refusal(t, verify, old, 'at its end')
  t.match(verify(sign(SECRET, 'HS256')), { sub: 'alice' }, 'the current secret still works')
})

t.test('expired is told apart, whichever key signed', async (t) => {
  const verify = createTokenVerifier(loadVerificationKeys(keyConfig(t)))
  const expired = (key: string) => hmacJwt({ alg: 'HS256' }, { sub: 'a', exp: now() - 60 }, key)
  refusal(t, verify, expired(SECRET), 'current secret', 'TOKEN_EXPIRED')
  refusal(t, verify, expired(PREVIOUS), 'previous secret', 'TOKEN_EXPIRED')
  refusal(t, verify, expired('another-secret-another-secret-another'), 'unknown secret: invalid, not expired', 'INVALID_TOKEN')
})

t.test('the server signs HS256 with the current secret, iss and aud when configured', async (t) => {
  const verify = createTokenVerifier({ keys: [{ source: 'JWT_SECRET', key: SECRET, algorithms: ['HS256'] }], issuers: ['pixelwire'], audiences: ['canvas'] })
  const tok = createTokenSigner({ secret: SECRET, issuer: 'pixelwire', audience: 'canvas', expiresInSec: 60 })({ sub: 'bob' })
  t.same(JSON.parse(Buffer.from(tok.split('.')[0], 'base64url').toString()).alg, 'HS256')
  t.match(verify(tok), { sub: 'bob', iss: 'pixelwire', aud: 'canvas' })
})

t.test('bad key files and JWT settings stop boot with a message naming them', async (t) => {
  const dir = tempDir(t)
  const file = (name: string, text: string) => { writeFileSync(join(dir, name), text); return join(dir, name) }
  const base = keyConfig(t, { JWT_JWKS_FILE: undefined })
  t.throws(() => loadVerificationKeys({ ...base, JWT_PUBLIC_KEY_FILE: join(dir, 'missing.pem') }), /JWT_PUBLIC_KEY_FILE: cannot read/)
  t.throws(() => loadVerificationKeys({ ...base, JWT_PUBLIC_KEY_FILE: file('junk.pem', 'junk') }), /JWT_PUBLIC_KEY_FILE/)
  t.throws(() => loadVerificationKeys({ ...base, JWT_PUBLIC_KEY_FILE: file('ec.pem', pem(ec.publicKey)), jwtAlgorithms: ['RS256'] }), /ec prime256v1 key: JWT_ALGORITHMS \(RS256\) allows none of ES256/)
  const jwks = (keys: unknown) => ({ ...base, JWT_PUBLIC_KEY_FILE: undefined, JWT_JWKS_FILE: file('k.json', JSON.stringify(keys)) })
  t.throws(() => loadVerificationKeys(jwks([])), /"keys" array/)
  t.throws(() => loadVerificationKeys(jwks({ keys: [ec.publicKey.export({ format: 'jwk' })] })), /key #0 has no "kid"/)
  t.throws(() => loadVerificationKeys(jwks({ keys: [{ kty: 'oct', k: 'c2VjcmV0', kid: 's' }] })), /symmetric/)
  t.throws(() => loadVerificationKeys(jwks({ keys: [{ ...ec.publicKey.export({ format: 'jwk' }), kid: 'a' }, { ...ed.publicKey.export({ format: 'jwk' }), kid: 'a' }] })), /kid a appears twice/)
  t.throws(() => loadVerificationKeys({ ...jwks({ keys: [{ ...ec.publicKey.export({ format: 'jwk' }), kid: 'a' }] }), jwtAlgorithms: ['RS256'] }), /no key usable/)
  const mixed = loadVerificationKeys({ ...jwks({ keys: [{ ...ec.publicKey.export({ format: 'jwk' }), kid: 'a' }, { ...rsa.publicKey.export({ format: 'jwk' }), kid: 'b' }, { ...rsa.publicKey.export({ format: 'jwk' }), kid: 'c', use: 'enc' }] }), jwtAlgorithms: ['RS256'] })
  t.same(mixed.keys.map((k) => k.kid).filter(Boolean), ['b'], 'keys of other algorithms and encryption keys are left out...')
  t.same(mixed.skipped, ['a', 'c'], '...and named')

  const env = { DATA_DIR: dir, JWT_SECRET: SECRET }
  t.throws(() => loadConfig({ ...env, JWT_PREVIOUS_SECRET: PREVIOUS }), /JWT_PREVIOUS_SECRET and JWT_PREVIOUS_UNTIL go together/)
  t.throws(() => loadConfig({ ...env, JWT_PREVIOUS_SECRET: PREVIOUS, JWT_PREVIOUS_UNTIL: 'tomorrow' }), /JWT_PREVIOUS_UNTIL must be an ISO 8601/)
  t.throws(() => loadConfig({ ...env, JWT_PUBLIC_KEY_FILE: base.JWT_PUBLIC_KEY_FILE }), /need JWT_ALGORITHMS/)
  t.throws(() => loadConfig({ ...env, JWT_JWKS_FILE: 'x', JWT_ALGORITHMS: 'RS256,HS256' }), /not HS256/)
  t.throws(() => loadConfig({ ...env, JWT_ALGORITHMS: 'RS256' }), /no JWT_PUBLIC_KEY_FILE/)
  const c = loadConfig({ ...env, JWT_PREVIOUS_SECRET: PREVIOUS, JWT_PREVIOUS_UNTIL: '2030-01-02T03:04:05Z', JWT_ISSUER: 'a, b', JWT_AUDIENCE: 'c', JWT_JWKS_FILE: 'x', JWT_ALGORITHMS: 'ES256, EdDSA' })
  t.same([c.jwtPreviousUntil, c.jwtIssuers, c.jwtAudiences, c.jwtAlgorithms], [Date.UTC(2030, 0, 2, 3, 4, 5), ['a', 'b'], ['c'], ['ES256', 'EdDSA']])
})
