// The canvas admin presenter is domain: it refuses with DomainErrors (kind
// and code), never with HTTP; and no domain module reaches for HTTP at all.
import { readdirSync, readFileSync, statSync } from 'node:fs'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import { createCanvas, fillRect, lastChange, requireCanvas } from '../../../src/canvas/admin.js'
import { Canvas } from '../../../src/canvas/canvas.js'
import type { CanvasService } from '../../../src/canvas/canvas-service.js'
import { DomainError } from '../../../src/domain-error.js'
import { protocolError } from '../../../src/protocol/errors.js'
import { ROOT } from '../../../src/paths.js'

function canvases (drawResult: ReturnType<CanvasService['draw']> = null) {
  const map = new Map<string, Canvas>()
  const draws: unknown[] = []
  const make = (id: string, width: number, height: number) => new Canvas({ id, width, height, epoch: 'e', seq: 0, createdAt: 0 }, Buffer.alloc(width * height * 3), 100)
  map.set('main', make('main', 8, 8))
  return {
    draws,
    get: (id: string) => map.get(id),
    create: (id: string, w: number, h: number) => { const c = make(id, w, h); map.set(id, c); return c },
    draw: (...args: unknown[]) => { draws.push(args); return drawResult }
  } as unknown as Pick<CanvasService, 'get' | 'create' | 'draw'> & { draws: unknown[] }
}

function refuses (t: Test, fn: () => unknown, kind: string, code: string): void {
  try {
    fn()
    t.fail(`${code}: no error`)
  } catch (err) {
    t.ok(err instanceof DomainError, `${code}: a DomainError`)
    t.match(err, { kind, code })
  }
}

t.test('refusals are domain errors', async (t) => {
  const cs = canvases()
  t.equal(requireCanvas(cs, 'main').id, 'main')
  refuses(t, () => requireCanvas(cs, 'nope'), 'not_found', 'CANVAS_NOT_FOUND')
  refuses(t, () => createCanvas(cs, 'main', 4, 4), 'conflict', 'CANVAS_EXISTS')
  t.equal(createCanvas(cs, 'new', 4, 4).id, 'new')
  const fill = { x: 0, y: 0, w: 8, h: 8, color: 0 }
  t.equal(fillRect(cs, 'main', fill, 'admin:a', 100), 64)
  t.equal(cs.draws.length, 1)
  refuses(t, () => fillRect(cs, 'nope', fill, 'admin:a', 100), 'not_found', 'CANVAS_NOT_FOUND')
  refuses(t, () => fillRect(cs, 'main', { ...fill, x: 1 }, 'admin:a', 100), 'invalid', 'OUT_OF_BOUNDS')
  refuses(t, () => fillRect(cs, 'main', fill, 'admin:a', 63), 'too_large', 'TOO_LARGE')
  const full = canvases(protocolError('UNAVAILABLE', 'batch full', 50))
  refuses(t, () => fillRect(full, 'main', fill, 'admin:a', 100), 'unavailable', 'UNAVAILABLE')
  const canvas = requireCanvas(cs, 'main')
  refuses(t, () => lastChange(canvas, () => undefined, 8, 0), 'invalid', 'OUT_OF_BOUNDS')
  refuses(t, () => lastChange(canvas, () => undefined, 1, 1), 'not_found', 'NO_HISTORY')
  t.same(lastChange(canvas, () => ({ seq: 3, x: 1, y: 1, color: 0xff0000, user: 'u', name: 'Ann', at: 0 }), 1, 1),
    { x: 1, y: 1, color: '#ff0000', seq: 3, user: 'u', name: 'Ann', at: '1970-01-01T00:00:00.000Z' })
  t.equal(lastChange(canvas, () => ({ seq: 3, x: 1, y: 1, color: 0, user: 'u', name: null, at: 0 }), 1, 1).name, 'u', 'no stored name: the sub')
})

t.test('nothing under src/ but the composition root imports the HTTP error', async (t) => {
  const root = new Set(['src/app.ts', 'src/server.ts', 'src/http-error.ts'])
  const offenders: string[] = []
  const walk = (dir: string) => {
    for (const name of readdirSync(dir)) {
      const path = join(dir, name)
      if (statSync(path).isDirectory()) walk(path)
      else if (name.endsWith('.ts') && !root.has(path.slice(ROOT.length + 1)) && /from '[./]*http-error\.js'/.test(readFileSync(path, 'utf8'))) offenders.push(path.slice(ROOT.length + 1))
    }
  }
  walk(join(ROOT, 'src'))
  t.same(offenders, [])
})
