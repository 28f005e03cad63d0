// The live settings' store over SQLite (the `settings` table, migration 006):
// one row per setting an admin set, its value as JSON.
import type { Db } from './db.js'
import type { SettingsPatch, SettingsStore } from '../settings/settings.js'

export function createSettingsStore (db: Db): SettingsStore {
  const stmts = {
    all: db.prepare('SELECT name, value FROM settings'),
    put: db.prepare('INSERT INTO settings (name, value, updated_at) VALUES (?, ?, ?) ON CONFLICT (name) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at'),
    drop: db.prepare('DELETE FROM settings WHERE name = ?')
  }
  const save = db.transaction((patch: SettingsPatch, at: number) => {
    for (const [name, value] of Object.entries(patch)) {
      if (value === undefined) continue
      if (value === null) stmts.drop.run(name)
      else stmts.put.run(name, JSON.stringify(value), at)
    }
  })
  return {
    load (): Record<string, unknown> {
      const out: Record<string, unknown> = {}
      for (const { name, value } of stmts.all.all() as Array<{ name: string, value: string }>) {
        try {
          out[name] = JSON.parse(value)
        } catch {
          out[name] = value // not JSON: refused by the schema check, logged there
        }
      }
      return out
    },
    save (patch: SettingsPatch): void { save.immediate(patch, Date.now()) }
  }
}
