// The SQLite side of moderation (migration 005): bans and guest addresses,
// region locks, the audit log. Statements prepared once; each method is one
// statement or one transaction. The interfaces are the domain's
// (src/moderation/*), so a cluster can hold the same state in Redis.
import type { Db } from './db.js'
import type { Ban, BanStore } from '../moderation/bans.js'
import type { Lock, LockStore } from '../moderation/locks.js'
import type { AuditEntry, AuditStore } from '../moderation/audit.js'
import { DomainError } from '../domain-error.js'

const BAN_COLUMNS = 'user, reason, by, at, until, ip'
const ACTIVE = '(until IS NULL OR until > @now)'

export function createBanStore (db: Db): BanStore {
  const stmts = {
    put: db.prepare(`INSERT OR REPLACE INTO bans (${BAN_COLUMNS}) VALUES (@user, @reason, @by, @at, @until, @ip)`),
    pruneBans: db.prepare('DELETE FROM bans WHERE until IS NOT NULL AND until <= ?'),
    remove: db.prepare(`DELETE FROM bans WHERE user = @user AND ${ACTIVE}`),
    active: db.prepare(`SELECT ${BAN_COLUMNS} FROM bans WHERE user = @user AND ${ACTIVE}`),
    list: db.prepare(`SELECT ${BAN_COLUMNS} FROM bans WHERE ${ACTIVE} ORDER BY at, user`),
    forIp: db.prepare(`SELECT ${BAN_COLUMNS} FROM bans WHERE ip = @ip AND ${ACTIVE} LIMIT 1`),
    rememberIp: db.prepare('INSERT OR REPLACE INTO guest_ips (sub, ip, at) VALUES (?, ?, ?)'),
    pruneIps: db.prepare('DELETE FROM guest_ips WHERE at < ?'),
    guestIp: db.prepare('SELECT ip FROM guest_ips WHERE sub = ?').pluck()
  }
  const put = db.transaction((ban: Ban) => {
    stmts.pruneBans.run(ban.at)
    stmts.put.run(ban)
  })
  const remember = db.transaction((sub: string, ip: string, now: number, keepMs: number) => {
    stmts.pruneIps.run(now - keepMs)
    stmts.rememberIp.run(sub, ip, now)
  })
  return {
    put: (ban) => put.immediate(ban),
    remove: (user, now) => stmts.remove.run({ user, now }).changes > 0,
    active: (user, now) => stmts.active.get({ user, now }) as Ban | undefined,
    list: (now) => stmts.list.all({ now }) as Ban[],
    activeForIp: (ip, now) => stmts.forIp.get({ ip, now }) as Ban | undefined,
    rememberGuestIp: (sub, ip, now, keepMs) => remember.immediate(sub, ip, now, keepMs),
    guestIp: (sub) => stmts.guestIp.get(sub) as string | undefined
  }
}

export function createLockStore (db: Db): LockStore {
  const COLUMNS = 'id, canvas, x, y, w, h, reason, by, at'
  const stmts = {
    add: db.prepare('INSERT INTO locks (canvas, x, y, w, h, reason, by, at) VALUES (@canvas, @x, @y, @w, @h, @reason, @by, @at)'),
    remove: db.prepare('DELETE FROM locks WHERE canvas = ? AND id = ?'),
    removeAll: db.prepare('DELETE FROM locks WHERE canvas = ?'),
    list: db.prepare(`SELECT ${COLUMNS} FROM locks WHERE canvas = ? ORDER BY id`),
    all: db.prepare(`SELECT ${COLUMNS} FROM locks ORDER BY id`)
  }
  const list = (canvas: string) => stmts.list.all(canvas) as Lock[]
  return {
    add (lock, max) {
      // One writer (this process): the count and the insert cannot interleave with another add.
      if (list(lock.canvas).length >= max) {
        throw new DomainError('conflict', 'TOO_MANY_LOCKS', `canvas ${lock.canvas} has ${max} locks already (MAX_LOCKS_PER_CANVAS); lift one first`)
      }
      const id = Number(stmts.add.run(lock).lastInsertRowid)
      return { lock: { id, ...lock }, locks: list(lock.canvas) }
    },
    remove (canvas, id) {
      const changes = id === '*' ? stmts.removeAll.run(canvas).changes : stmts.remove.run(canvas, id).changes
      return changes > 0 ? { locks: list(canvas) } : null
    },
    all () {
      const byCanvas = new Map<string, { version: number, locks: Lock[] }>()
      for (const lock of stmts.all.all() as Lock[]) {
        const e = byCanvas.get(lock.canvas)
        if (e === undefined) byCanvas.set(lock.canvas, { version: 0, locks: [lock] })
        else e.locks.push(lock)
      }
      return { version: 0, byCanvas }
    }
  }
}

export function createAuditStore (db: Db): AuditStore {
  const COLUMNS = 'id, at, admin, method, route, url, params, body, status'
  const stmts = {
    insert: db.prepare('INSERT INTO audit (at, admin, method, route, url, params, body, status) VALUES (@at, @admin, @method, @route, @url, @params, @body, @status)'),
    // Ids only grow (the newest row is never deleted, so max + 1 is never
    // reused): the newest maxEntries are the ids above newest - maxEntries.
    pruneCount: db.prepare('DELETE FROM audit WHERE id <= ?'),
    pruneAge: db.prepare('DELETE FROM audit WHERE at < ?'),
    page: db.prepare(`SELECT ${COLUMNS} FROM audit WHERE id < ? ORDER BY id DESC LIMIT ?`)
  }
  const append = db.transaction((entry: Omit<AuditEntry, 'id'>, maxEntries: number, minAt: number) => {
    const id = Number(stmts.insert.run({ ...entry, params: JSON.stringify(entry.params) }).lastInsertRowid)
    stmts.pruneCount.run(id - maxEntries)
    stmts.pruneAge.run(minAt)
  })
  return {
    append: (entry, maxEntries, minAt) => append.immediate(entry, maxEntries, minAt),
    page (limit, before) {
      const rows = stmts.page.all(before ?? Number.MAX_SAFE_INTEGER, limit) as Array<Omit<AuditEntry, 'params'> & { params: string }>
      return rows.map((r) => ({ ...r, params: JSON.parse(r.params) as Record<string, unknown> }))
    }
  }
}
