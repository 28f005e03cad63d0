// The nesting scan that runs before JSON.parse: exact for valid JSON, never
// fooled by brackets inside strings, linear on hostile input.
import t from 'tap'
import { jsonTooDeep } from '../../../src/protocol/json-depth.js'

/** Depth of a parsed value, the independent way: walk it. */
function depthOf (v: unknown): number {
  if (v === null || typeof v !== 'object') return 0
  const children = Array.isArray(v) ? v : Object.values(v)
  return 1 + children.reduce((m: number, c) => Math.max(m, depthOf(c)), 0)
}

t.test('counts arrays and objects, the outermost as 1', async (t) => {
  t.equal(jsonTooDeep('{"a":1}', 1), false)
  t.equal(jsonTooDeep('{"a":[1]}', 1), true)
  t.equal(jsonTooDeep('{"a":[1]}', 2), false)
  t.equal(jsonTooDeep('[[[]]]', 2), true)
  t.equal(jsonTooDeep('[[[]]]', 3), false)
  t.equal(jsonTooDeep('[{"a":{"b":[]}}]', 3), true)
  t.equal(jsonTooDeep('[{"a":{"b":[]}}]', 4), false)
  t.equal(jsonTooDeep('[[],[],[],[],[]]', 2), false, 'siblings do not add up')
  t.equal(jsonTooDeep('1', 1), false)
  t.equal(jsonTooDeep('"x"', 1), false)
})

t.test('brackets inside strings do not count', async (t) => {
  t.equal(jsonTooDeep('{"a":"[[[[[[[[[[{{{{{{{{"}', 1), false)
  t.equal(jsonTooDeep('{"[[[[[[[[":"]]]]]]]]"}', 1), false)
  t.equal(jsonTooDeep('{"a":"]]]]]]]]]]","b":[[[1]]]}', 3), true, 'closing brackets in a string do not lower the depth')
})

t.test('escaped quotes and backslashes keep the string open or closed as JSON does', async (t) => {
  // "a\"[[[" is one string: the brackets are inside it.
  t.equal(jsonTooDeep(String.raw`{"a":"x\"[[[[[[[["}`, 1), false)
  // "x\\" ends at its second quote: the brackets after it are real.
  t.equal(jsonTooDeep(String.raw`{"a":"x\\","b":[[[[1]]]]}`, 4), true)
  t.equal(jsonTooDeep(String.raw`{"a":"x\\","b":[[[[1]]]]}`, 5), false)
  // An escaped backslash then an escaped quote: still inside the string.
  t.equal(jsonTooDeep(String.raw`["\\\"[[[[[[["]`, 1), false)
  t.equal(jsonTooDeep(String.raw`["\u005b\u007b"]`, 1), false, 'unicode escapes are characters, not brackets')
})

t.test('agrees with a walk of the parsed value, for random JSON', async (t) => {
  let seed = 42
  const rnd = (n: number) => { seed = (seed * 1103515245 + 12345) & 0x7fffffff; return seed % n }
  const strings = ['[', ']', '{', '}', '"', '\\', '\\"', 'a', '[{"', '\\\\', '"]']
  function gen (d: number): unknown {
    const k = rnd(d > 6 ? 3 : 6)
    if (k === 0) return rnd(100)
    if (k === 1) return Array.from({ length: rnd(4) }, () => strings[rnd(strings.length)]).join('')
    if (k === 2) return null
    if (k === 3) return Array.from({ length: rnd(4) }, () => gen(d + 1))
    const o: Record<string, unknown> = {}
    for (let i = rnd(4); i > 0; i--) o[strings[rnd(strings.length)] + i] = gen(d + 1)
    return o
  }
  let mismatches = 0
  for (let i = 0; i < 2000; i++) {
    const v = gen(0)
    const text = JSON.stringify(v)
    const d = depthOf(v)
    for (const max of [Math.max(1, d - 1), d, d + 1]) {
      if (jsonTooDeep(text, max) !== (d > max)) mismatches++
    }
  }
  t.equal(mismatches, 0)
})

t.test('the attack of issue 10: 8,150 levels in 16 KB', async (t) => {
  const text = '{"type":"ping","id":' + '['.repeat(8150) + ']'.repeat(8150) + '}'
  t.equal(jsonTooDeep(text, 32), true)
  t.equal(jsonTooDeep('['.repeat(1e6), 32), true, 'unclosed brackets are too deep too')
  t.equal(jsonTooDeep(']'.repeat(1e6) + '[[', 2), false, 'stray closers never make the depth negative')
})
