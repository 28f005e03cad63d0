// The wire module's vocabulary: colours, roles, the u64 seq, and that it
// stays loadable in a browser (no Node-only API in any of its files).
import { readFileSync, readdirSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import {
  DEFAULT_ROLE, ROLES, canDraw, claimedPixels, isRole, packRgb, parseHexColor, readU64, rectRecords, toHexColor, unpackRgb,
  writePixelRecord, writeU64
} from '../../../src/protocol/wire.js'

t.test('colours: packed 0xRRGGBB, "#rrggbb" both ways', async (t) => {
  t.equal(packRgb(0x12, 0x34, 0x56), 0x123456)
  t.equal(packRgb(255, 255, 255), 0xffffff)
  t.same(unpackRgb(0xfe0102), [0xfe, 0x01, 0x02])
  t.throws(() => packRgb(256, 0, 0), RangeError)
  t.throws(() => packRgb(0, -1, 0), RangeError)
  t.equal(toHexColor(0), '#000000')
  t.equal(toHexColor(0x0a0b0c), '#0a0b0c')
  t.equal(parseHexColor('#0A0b0C'), 0x0a0b0c)
  for (const bad of ['0a0b0c', '#0a0b0', '#0a0b0c0', '#0a0b0g', ' #0a0b0c', '']) t.equal(parseHexColor(bad), null, JSON.stringify(bad))
})

t.test('roles: the union, its default, who draws', async (t) => {
  t.same([...ROLES], ['viewer', 'painter', 'admin'])
  t.equal(DEFAULT_ROLE, 'painter')
  for (const r of ROLES) t.ok(isRole(r))
  for (const bad of ['Admin', 'root', '', null, 1]) t.notOk(isRole(bad), JSON.stringify(bad))
  t.same(ROLES.map(canDraw), [false, true, true])
})

t.test('u64: every safe integer round trips; beyond 2^53 reads as -1', async (t) => {
  const buf = new Uint8Array(8)
  for (const v of [0, 1, 0xffffffff, 2 ** 32, 2 ** 32 + 1, Number.MAX_SAFE_INTEGER]) {
    writeU64(buf, 0, v)
    t.equal(readU64(buf, 0), v, String(v))
  }
  writeU64(buf, 0, 2 ** 32 + 5)
  t.same([...buf], [0, 0, 0, 1, 0, 0, 0, 5], 'big-endian')
  buf.set([0, 0x20, 0, 0, 0, 0, 0, 0])
  t.equal(readU64(buf, 0), -1, '2^53')
  buf.fill(0xff)
  t.equal(readU64(buf, 0), -1, '2^64 - 1')
})

t.test('claimedPixels reads only a header, and a short one claims nothing', async (t) => {
  t.equal(claimedPixels(Uint8Array.of(0x00)), 1, 'PIXEL')
  t.equal(claimedPixels(Uint8Array.of(0x01, 0x01, 0x02)), 0x0102, 'PIXELS count, records or not')
  t.equal(claimedPixels(Uint8Array.of(0x01, 0x01)), 0, 'PIXELS without its count')
  t.equal(claimedPixels(Uint8Array.of(0x02, 0, 0, 0, 0, 0, 3, 0, 4)), 12, 'RECT w·h')
  t.equal(claimedPixels(Uint8Array.of(0x02, 0, 0, 0, 0, 0, 3, 0)), 0, 'RECT without its h')
  t.equal(claimedPixels(Uint8Array.of(0x03, 0, 0, 0, 0)), 0, 'CURSOR')
  t.equal(claimedPixels(new Uint8Array(0)), 0, 'empty')
})

t.test('record writers refuse what does not fit', async (t) => {
  t.throws(() => writePixelRecord(new Uint8Array(7), 1, 0, 0, 0), RangeError, 'no room')
  t.throws(() => writePixelRecord(new Uint8Array(7), -1, 0, 0, 0), RangeError, 'negative offset')
  t.throws(() => rectRecords(0, 0, -1, 1, 0), RangeError, 'negative width')
  t.throws(() => rectRecords(0, 0, 1, 0.5, 0), RangeError, 'fractional height')
  t.equal(rectRecords(70000, 0, 0, 1, 0).length, 0, 'an empty rect has no position to check')
})

t.test('the wire module uses no Node-only API (it is bundled for browsers)', async (t) => {
  const dir = join(import.meta.dirname, '../../../src/protocol')
  const wire = readFileSync(join(dir, 'wire.ts'), 'utf8')
  const files = ['wire.ts', ...[...wire.matchAll(/from '\.\/([a-z-]+)\.js'/g)].map((m) => `${m[1]}.ts`)]
  t.ok(files.length >= 5, `wire.ts and its parts: ${files.join(', ')}`)
  for (const f of files) {
    t.ok(readdirSync(dir).includes(f), `${f} exists`)
    const src = readFileSync(join(dir, f), 'utf8').replace(/\/\*[\s\S]*?\*\//g, '').replace(/\/\/.*$/gm, '') // code, not comments
    t.notMatch(src, /from '(node:|[a-z@][^.'][^']*')/, `${f} imports only its siblings`)
    t.notMatch(src, /\b(Buffer|process|require)\b/, `${f} uses no Buffer, process or require`)
  }
})
