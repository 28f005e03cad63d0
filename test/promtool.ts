// Scrape helpers: Prometheus's own linter on a scrape, and a reader of its
// samples. promtool comes with Debian's `prometheus` package (.ci/run
// installs it); without it the metrics tests fail rather than skip.
import { spawn } from 'node:child_process'

export interface Checked { code: number | null, output: string }

/** `promtool check metrics` on `text` (fed on stdin): exit code and everything it printed. */
export function promtoolCheck (text: string): Promise<Checked> {
  return new Promise((resolve, reject) => {
    const child = spawn('promtool', ['check', 'metrics'], { stdio: ['pipe', 'pipe', 'pipe'] })
    let output = ''
    child.stdout.on('data', (d: Buffer) => { output += d.toString() })
    child.stderr.on('data', (d: Buffer) => { output += d.toString() })
    child.on('error', (err: NodeJS.ErrnoException) => {
      reject(err.code === 'ENOENT'
        ? new Error('promtool not found: install it (Debian: apt-get install prometheus), as .ci/run does')
        : err)
    })
    child.on('close', (code) => resolve({ code, output }))
    child.stdin.on('error', () => {}) // an early exit shows in the code and output
    child.stdin.end(text)
  })
}

/** Samples of a text exposition: `name{labels}` exactly as printed → value. */
export function samples (text: string): Map<string, number> {
  const out = new Map<string, number>()
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue
    const cut = line.lastIndexOf(' ')
    out.set(line.slice(0, cut), Number(line.slice(cut + 1)))
  }
  return out
}

/** How much each series grew between two scrapes (absent counts as 0). */
export function delta (before: Map<string, number>, after: Map<string, number>) {
  return (series: string): number => (after.get(series) ?? 0) - (before.get(series) ?? 0)
}
