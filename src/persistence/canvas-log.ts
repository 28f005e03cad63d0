// The canvas log port (src/canvas/canvas-log.ts) over SQLite: commit is one
// IMMEDIATE transaction that reads the canvas's seq, appends the batch after
// it and moves it (canvas-store `append`). Nothing else writes seqs.
import type { CanvasStore } from './canvas-store.js'

export function createCanvasLog (store: CanvasStore) {
  return {
    commit: (canvas: string, records: Buffer, authors: Array<{ user: string, count: number }>) => store.append(canvas, records, authors),
    changesAfter: (canvas: string, after: number, limit: number) => store.changesAfter(canvas, after, limit)
  }
}
