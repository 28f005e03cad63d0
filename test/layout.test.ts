// The layout rules the README states, checked on the source itself:
// - src/ is the domain: only src/app.ts and src/server.ts (the composition
//   root) may import fastify, @fastify/* or ws;
// - no import circle among the server's modules (type-only imports count:
//   a circle of types is still two modules that cannot be read apart).
import { readdirSync, readFileSync } from 'node:fs'
import { dirname, join, relative, resolve } from 'node:path'
import t from 'tap'
import { ROOT } from '../src/paths.js'

/** Every .ts file under dir (relative to ROOT, with forward slashes). */
function tsFiles (dir: string): string[] {
  const out: string[] = []
  for (const e of readdirSync(join(ROOT, dir), { withFileTypes: true })) {
    const rel = `${dir}/${e.name}`
    if (e.isDirectory()) out.push(...tsFiles(rel))
    else if (e.name.endsWith('.ts') && !e.name.endsWith('.d.ts')) out.push(rel)
  }
  return out
}

// Static imports and re-exports (also multi-line, also `import type`), side-effect imports, dynamic import().
const IMPORT = /(?:^|[\n;])\s*(?:import|export)\s+(?:type\s+)?(?:[^'";]*?\sfrom\s*)?['"]([^'"\n]+)['"]|\bimport\s*\(\s*['"]([^'"\n]+)['"]\s*\)/g

/** The module specifiers a source text imports. */
export function importsOf (source: string): string[] {
  const out: string[] = []
  for (const m of source.matchAll(IMPORT)) out.push(m[1] ?? m[2])
  return out
}

/** A relative specifier ('./x.js') as the .ts file it names, relative to ROOT; null for packages. */
function resolveLocal (from: string, spec: string): string | null {
  if (!spec.startsWith('.')) return null
  return relative(ROOT, resolve(ROOT, dirname(from), spec)).replace(/\\/g, '/').replace(/\.js$/, '.ts')
}

/** Each circle once, as the path of files that closes it (first file repeated at the end). */
export function findCycles (graph: ReadonlyMap<string, readonly string[]>): string[][] {
  const cycles: string[][] = []
  const state = new Map<string, 'open' | 'done'>()
  const stack: string[] = []
  const seen = new Set<string>()
  function visit (node: string): void {
    state.set(node, 'open')
    stack.push(node)
    for (const next of graph.get(node) ?? []) {
      const s = state.get(next)
      if (s === 'open') {
        const cycle = stack.slice(stack.indexOf(next))
        const key = [...cycle].sort().join(' ')
        if (!seen.has(key)) {
          seen.add(key)
          cycles.push([...cycle, next])
        }
      } else if (s === undefined) {
        visit(next)
      }
    }
    stack.pop()
    state.set(node, 'done')
  }
  for (const node of [...graph.keys()].sort()) if (!state.has(node)) visit(node)
  return cycles
}

const SERVER_DIRS = ['src', 'plugins', 'routes']
const files = SERVER_DIRS.flatMap(tsFiles)
const sources = new Map(files.map((f) => [f, readFileSync(join(ROOT, f), 'utf8')]))

t.test('the import scanner and the circle finder themselves', async (t) => {
  t.same(importsOf([
    "import a from 'a'",
    "import type { B } from './b.js'",
    'import {',
    '  c,',
    '  type D',
    "} from '../c.js'",
    "export { e } from './e.js'",
    "export * from './f.js'",
    "import './g.js'",
    "const h = await import('./h.js')",
    "const s = 'not an import from \\'x\\''"
  ].join('\n')), ['a', './b.js', '../c.js', './e.js', './f.js', './g.js', './h.js'])
  t.same(findCycles(new Map([['a', ['b']], ['b', ['c']], ['c', ['a', 'd']], ['d', []]])), [['a', 'b', 'c', 'a']], 'a circle of three')
  t.same(findCycles(new Map([['a', ['b']], ['b', ['a']], ['c', ['c']]])), [['a', 'b', 'a'], ['c', 'c']], 'a pair and a self-import')
  t.same(findCycles(new Map([['a', ['b', 'c']], ['b', ['d']], ['c', ['d']], ['d', []]])), [], 'a diamond is no circle')
})

t.test('src/ imports neither fastify, @fastify/* nor ws, except the composition root', async (t) => {
  t.ok(files.length > 30, `${files.length} files scanned`)
  const FRAMEWORK = /^(fastify|fastify-plugin|@fastify\/.*|ws)$/
  const ROOT_FILES = new Set(['src/app.ts', 'src/server.ts'])
  const offenders: string[] = []
  for (const [file, source] of sources) {
    if (!file.startsWith('src/') || ROOT_FILES.has(file)) continue
    for (const spec of importsOf(source)) if (FRAMEWORK.test(spec)) offenders.push(`${file} imports ${spec}`)
  }
  t.same(offenders, [], 'no framework import in the domain')
  // The scanner does see the framework where it is allowed to be.
  t.ok(importsOf(sources.get('src/app.ts')!).some((s) => FRAMEWORK.test(s)), 'src/app.ts imports fastify (the scanner sees it)')
})

t.test('no import circle among src/, plugins/ and routes/', async (t) => {
  const graph = new Map<string, string[]>()
  const unresolved: string[] = []
  for (const [file, source] of sources) {
    const local = importsOf(source).map((s) => resolveLocal(file, s)).filter((f): f is string => f !== null)
    graph.set(file, local)
    for (const f of local) if (!sources.has(f) && SERVER_DIRS.some((d) => f.startsWith(`${d}/`))) unresolved.push(`${file} -> ${f}`)
  }
  t.same(unresolved, [], 'every local import resolves to a scanned file (the graph is whole)')
  t.ok([...graph.values()].reduce((n, l) => n + l.length, 0) > 100, 'the graph has its edges')
  t.same(findCycles(graph).map((c) => c.join(' -> ')), [], 'no circle')
})
