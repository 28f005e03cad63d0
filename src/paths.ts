// The project root holds migrations/ and public/, whether this runs from
// src/ (tsx, tap) or from dist/src/ (npm start).
import { existsSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

function findRoot (from: string): string {
  let dir = from
  while (!existsSync(join(dir, 'package.json')) || !existsSync(join(dir, 'migrations'))) {
    const up = dirname(dir)
    if (up === dir) throw new Error(`project root not found above ${from}`)
    dir = up
  }
  return dir
}

export const ROOT = findRoot(dirname(fileURLToPath(import.meta.url)))
export const MIGRATIONS_DIR = join(ROOT, 'migrations')
export const PUBLIC_DIR = join(ROOT, 'public')
