// hub.deliver (src/hub/hub.ts) is the only code that iterates subscribers.
// Two checks over every server source file (src/ but the browser client,
// plugins/, routes/):
// 1. nothing but the hub reaches a topic's subscriber collection (the hub
//    exposes none: no `subscribers(`, no `byTopic`);
// 2. no loop sends to the element it iterates (`for (const c of ...) c.send(...)`,
//    `xs.forEach((c) => sendFrame(c, ...))`): a fan-out written by hand.
// Per-client catch-up (a room's laggards, each at its own seq) sends through
// catchUp/sendSnapshot, not in the loop body, and is not a fan-out.
// The detector is checked against the hand-written fan-outs this replaced.
import { readdirSync, readFileSync, statSync } from 'node:fs'
import { join, relative } from 'node:path'
import t from 'tap'
import { ROOT } from '../src/paths.js'

function * sources (dir: string): Generator<string> {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name)
    if (statSync(path).isDirectory()) {
      if (relative(ROOT, path) !== join('src', 'client')) yield * sources(path)
    } else if (name.endsWith('.ts')) {
      yield path
    }
  }
}

/** The text from `open` (an opening bracket) to its matching close. */
function balanced (text: string, open: number): string {
  const pairs: Record<string, string> = { '(': ')', '{': '}' }
  const close = pairs[text[open]]
  let depth = 0
  for (let i = open; i < text.length; i++) {
    if (text[i] === text[open]) depth++
    else if (text[i] === close && --depth === 0) return text.slice(open, i + 1)
  }
  return text.slice(open)
}

const SENDS = (v: string) => new RegExp(`\\b${v}\\s*\\.\\s*(send|sendShared|transport\\s*\\.\\s*send)\\s*\\(|\\bsendFrame\\s*\\(\\s*${v}\\b`)

/** Loops whose body sends to their own loop variable, as `line: loop header`. */
function handWrittenFanOuts (text: string): string[] {
  const found: string[] = []
  const loops = /for\s*\(\s*(?:const|let|var)\s+(\w+)\s+of\b|\.forEach\s*\(\s*(?:function\s*\w*\s*)?\(?\s*(\w+)/g
  for (const m of text.matchAll(loops)) {
    const v = m[1] ?? m[2]
    const headerOpen = text.indexOf('(', m.index)
    let body: string
    if (m[1] !== undefined) {
      const header = balanced(text, headerOpen)
      const after = headerOpen + header.length
      const next = text.slice(after).search(/\S/) + after
      body = text[next] === '{' ? balanced(text, next) : text.slice(next, text.indexOf('\n', next))
    } else {
      body = balanced(text, headerOpen)
    }
    if (SENDS(v).test(body)) found.push(`${text.slice(0, m.index).split('\n').length}: ${m[0]}`)
  }
  return found
}

t.test('the detector finds the hand-written fan-outs the hub replaced', async (t) => {
  const before = {
    'routes/api/admin/broadcast (sendAll)': 'function sendAll (conns, message) {\n  let delivered = 0\n  for (const conn of conns) if (conn.send(message, true)) delivered++\n  return delivered\n}',
    'presence.ts (cursors)': 'if (p.cursors.size > 0) {\n  const frame = encodeCursors(x)\n  for (const c of subs.values()) c.send(frame)\n}',
    'streams.ts (deliver)': 'for (const client of hub.subscribers(streamTopic(name)).values()) {\n  if (client.send(frame, true)) delivered++\n  else if (!client.closed) opts.onSlow(client)\n}',
    'canvas-service.ts (broadcast)': 'for (const client of subs.values()) {\n  if (tick.slots > 1) continue\n  const frame = frameFrom(canvas, at)\n  if (frame !== null && sendFrame(client, frame)) {\n    tick.frames++\n  }\n}',
    'a forEach': 'conns.forEach((c) => { c.sendShared(frame) })'
  }
  for (const [where, code] of Object.entries(before)) t.equal(handWrittenFanOuts(code).length, 1, where)
  t.same(handWrittenFanOuts('for (const frame of res.replay) conn.send(frame, true)'), [], 'sending each of many frames to one connection is no fan-out')
  t.same(handWrittenFanOuts('for (const conn of registry.all()) conn.transport.ping()'), [], 'pings are no delivery')
})

t.test('outside src/hub/hub.ts, nothing iterates subscribers', async (t) => {
  const hub = join(ROOT, 'src', 'hub', 'hub.ts')
  let files = 0
  for (const dir of ['src', 'plugins', 'routes']) {
    for (const file of sources(join(ROOT, dir))) {
      files++
      const text = readFileSync(file, 'utf8')
      if (file === hub) {
        t.match(text, /for \(const sub of subs\.values\(\)\) if \(sender\.sendTo\(sub, frame\)\)/, 'the one loop is in the hub')
        continue
      }
      const name = relative(ROOT, file)
      t.notMatch(text, /\.subscribers\s*\(|\bbyTopic\b/, `${name}: no reach into the hub's subscribers`)
      t.same(handWrittenFanOuts(text), [], `${name}: no hand-written fan-out`)
    }
  }
  t.ok(files > 40, `${files} files checked`)
})
